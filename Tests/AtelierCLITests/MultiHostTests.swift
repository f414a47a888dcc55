import Foundation
import XCTest

/// The netns test cluster (cluster/netns): one machine, N hosts as network namespaces, ranks on
/// different hosts talking TCP over a bridge. Needs root and iproute2; skipped otherwise.
///
/// Each test process names its cluster's namespaces after its pid: another test run on the same
/// machine (another checkout's CI, say) brings its own cluster up and down without tearing this
/// one down under a running job: deleting the bridge's namespace cuts every host's link, and the
/// job's ranks wait for one another in their next collective until the test's timeout.
struct NetnsCluster {
    static let script = TrainCommandTests.root.appendingPathComponent("cluster/netns/netns-cluster.sh").path
    static let name = "at\(getpid())"
    let dir: URL

    static func available() -> Bool {
        guard getuid() == 0 else { return false }
        let probe = try? AtelierProcess.command(["/bin/sh", "-c", "ip netns add \(name)-probe && ip netns del \(name)-probe"])
        return probe?.status == 0
    }

    /// The network namespace of host `host` (for `ip netns exec`).
    static func namespace(host: Int) -> String { "\(name)-h\(host)" }

    /// Brings up `hosts` hosts (replacing this process's netns cluster), links shaped to `rate` if given.
    func up(_ hosts: Int, rate: String? = nil) throws {
        let r = try AtelierProcess.command(["bash", Self.script, "up", String(hosts), "--dir", dir.path, "--name", Self.name]
                                           + (rate.map { ["--rate", $0] } ?? []))
        guard r.status == 0 else { throw XCTSkip("cannot create the netns cluster here: \(r.stderr)") }
    }

    func down() { _ = try? AtelierProcess.command(["bash", Self.script, "down", "--dir", dir.path, "--name", Self.name]) }

    /// Adds this machine to the bridge as 10.213.0.254.
    func linkRoot() throws -> AtelierProcess.Result {
        try AtelierProcess.command(["bash", Self.script, "link-root", "--dir", dir.path, "--name", Self.name])
    }

    /// `mpirun -np ranks atelier ARGS` on the cluster (mpirun on host 0), killed after `timeout` seconds.
    func train(_ arguments: [String], ranks: Int, environment: [String] = [], timeout: Int = 300) throws -> AtelierProcess.Result {
        // (bounded: a launch that hangs fails the test instead of the whole suite)
        try AtelierProcess.command(["timeout", String(timeout), "bash", Self.script, "mpirun", "--dir", dir.path, "--"]
                     + (getuid() == 0 ? ["--allow-run-as-root"] : []) + environment.flatMap { ["-x", $0] }
                     + ["-np", String(ranks), AtelierProcess.executable] + arguments, cwd: TrainCommandTests.root)
    }
}

final class MultiHostTests: XCTestCase {
    var dir: URL!
    var cluster: NetnsCluster!

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "needs a release build: swift test -c release")
        try XCTSkipUnless(NetnsCluster.available(), "the netns cluster needs root and network namespaces")
        dir = try temporaryDirectory("hosts")
        cluster = NetnsCluster(dir: dir.appendingPathComponent("netns"))
    }

    override func tearDownWithError() throws {
        cluster?.down()
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func losses(_ run: URL) throws -> [Double] {
        try readMetrics(run.appendingPathComponent("metrics.jsonl")).compactMap { $0["loss"] as? Double }
    }

    /// The quickstart, shortened, on 2 and on 4 hosts (TCP between them) follows the single-host
    /// run with the same global batch of 16: 2 hosts x micro 8 exactly, 4 hosts x micro 4 within
    /// float summation tolerance.
    func testQuickstartAcrossTwoAndFourHostsMatchesOneHost() throws {
        guard FileManager.default.fileExists(atPath: TrainCommandTests.root.appendingPathComponent("data/tokenizer.json").path) else {
            XCTAssertNil(ProcessInfo.processInfo.environment["CI"], "CI must prepare the quickstart's data (.ci/run)")
            throw XCTSkip("run bash jobs/quickstart/prepare-data.sh first")
        }
        let common = ["train.iterations=8", "schedule.warmup_samples=32", "train.log_interval=1", "train.eval_interval=0", "distributed.blas_threads=1"]
        func arguments(_ name: String, micro: Int) -> [String] {
            ["train", "jobs/quickstart/quickstart.toml"]
                + (common + ["batch.micro_batch_size=\(micro)", "run_dir=\(dir.appendingPathComponent(name).path)"]).flatMap { ["--set", $0] }
        }
        let single = try AtelierProcess.run(arguments("one-host", micro: 8), ranks: 2, cwd: TrainCommandTests.root)
        XCTAssertEqual(single.status, 0, single.stderr)
        let reference = try losses(dir.appendingPathComponent("one-host"))
        XCTAssertEqual(reference.count, 8)

        try cluster.up(2)
        let two = try cluster.train(arguments("two-hosts", micro: 8), ranks: 2)
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertTrue(two.stdout.contains("1 rank on this node"), "one rank per host: \(two.stdout)")
        XCTAssertEqual(try losses(dir.appendingPathComponent("two-hosts")), reference)

        try cluster.up(4)
        let four = try cluster.train(arguments("four-hosts", micro: 4), ranks: 4)
        XCTAssertEqual(four.status, 0, four.stderr)
        XCTAssertTrue(four.stdout.contains("micro 4 x 4 ranks"), four.stdout)
        let spread = try losses(dir.appendingPathComponent("four-hosts"))
        XCTAssertEqual(spread.count, reference.count)
        for (i, (a, b)) in zip(spread, reference).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-5 * b, "iteration \(i + 1)")
        }
    }

    /// ZeRO stage 1 on 4 hosts over TCP, the quickstart's shape on a small corpus: gradients reduced
    /// to their owners (Rabenseifner's MPI_Ireduce on 4 ranks), parameters all-gathered (shards of
    /// 1.3 MB, over the 1 MiB eager limit) and moments gathered for two saves finish in seconds and
    /// follow the stage-0 run to summation-order tolerance.
    func testZeroStageOneOnFourHostsMatchesStageZero() throws {
        try writeCorpus(in: dir)
        let shape = ["model.vocab_size=4096", "model.hidden_size=128", "model.layers=4", "model.seq_length=128",
                     "batch.micro_batch_size=4", "batch.global_batch_size=16", "train.iterations=8", "distributed.blas_threads=1"]
        try cluster.up(4)
        var runs: [Int: (seconds: Double, losses: [Double], stdout: String)] = [:]
        for stage in [0, 1] {
            let job = try writeTinyJob(in: dir, name: "stage\(stage)", micro: 4, extra: "[checkpoint]\ninterval_iterations = 4")
            let start = Date()
            let r = try cluster.train(["train", job] + (shape + ["distributed.zero_stage=\(stage)"]).flatMap { ["--set", $0] },
                                      ranks: 4, timeout: 120)
            XCTAssertEqual(r.status, 0, "stage \(stage) (124: killed after 120 s): \(r.stderr)")
            runs[stage] = (Date().timeIntervalSince(start), try losses(dir.appendingPathComponent("runs/stage\(stage)")), r.stdout)
        }
        let zero = try XCTUnwrap(runs[0]), one = try XCTUnwrap(runs[1])
        XCTAssertTrue(one.stdout.contains("streamed from 4 shards"), one.stdout)
        XCTAssertTrue(one.stdout.contains("1 rank on this node"), "one rank per host: \(one.stdout)")
        XCTAssertEqual(zero.losses.count, 8)
        XCTAssertEqual(one.losses.count, 8)
        for (i, (a, b)) in zip(one.losses, zero.losses).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-5 * b, "iteration \(i + 1)")
        }
        XCTAssertLessThan(one.seconds, 3 * zero.seconds + 10, "stage 1 took \(one.seconds) s, stage 0 \(zero.seconds) s")
    }
}

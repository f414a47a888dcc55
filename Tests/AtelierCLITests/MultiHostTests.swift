import Foundation
import XCTest

/// The netns test cluster (cluster/netns): one machine, N hosts as network namespaces, ranks on
/// different hosts talking TCP over a bridge. Needs root and iproute2; skipped otherwise.
struct NetnsCluster {
    static let script = TrainCommandTests.root.appendingPathComponent("cluster/netns/netns-cluster.sh").path
    let dir: URL

    static func available() -> Bool {
        guard getuid() == 0 else { return false }
        let probe = try? AtelierProcess.command(["/bin/sh", "-c", "ip netns add atelier-probe && ip netns del atelier-probe"])
        return probe?.status == 0
    }

    /// Brings up `hosts` hosts (replacing any netns cluster), links shaped to `rate` if given.
    func up(_ hosts: Int, rate: String? = nil) throws {
        let r = try AtelierProcess.command(["bash", Self.script, "up", String(hosts), "--dir", dir.path] + (rate.map { ["--rate", $0] } ?? []))
        guard r.status == 0 else { throw XCTSkip("cannot create the netns cluster here: \(r.stderr)") }
    }

    func down() { _ = try? AtelierProcess.command(["bash", Self.script, "down", "--dir", dir.path]) }

    /// `mpirun -np ranks atelier ARGS` on the cluster (mpirun on host 0).
    func train(_ arguments: [String], ranks: Int, environment: [String] = []) throws -> AtelierProcess.Result {
        // (bounded: a launch that hangs fails the test instead of the whole suite)
        try AtelierProcess.command(["timeout", "300", "bash", Self.script, "mpirun", "--dir", dir.path, "--"]
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
}

import Foundation
import XCTest

/// A throwaway PostgreSQL server (cluster/postgres/test-server.sh, run as the unprivileged user
/// `postgres` under root); its password goes in this process's PGPASSWORD, which the atelier
/// processes inherit and libpq reads. Skips where PostgreSQL is not installed.
struct PostgreSQLTestServer {
    static let script = TrainCommandTests.root.appendingPathComponent("cluster/postgres/test-server.sh").path
    let dir: String
    let password = "pw-\(UInt64.random(in: 0...UInt64.max))"
    let port: String

    init(listen: [String] = []) throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/postgresql") else {
            XCTAssertNil(ProcessInfo.processInfo.environment["CI"], "CI installs postgresql (.ci/run)")
            throw XCTSkip("PostgreSQL's server is not installed (apt-get install postgresql)")
        }
        dir = "/tmp/atelier-pg-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        setenv("PGPASSWORD", password, 1)
        let up = try AtelierProcess.commandLeavingDaemons(["bash", Self.script, "up", "--dir", dir] + listen.flatMap { ["--listen", $0] })
        guard up.status == 0 else { throw XCTSkip("cannot start a test PostgreSQL here: \(up.stdout)") }
        port = try String(contentsOfFile: dir + "/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The ledger URL as seen from `host` (127.0.0.1 here, the bridge address from a netns host).
    func url(host: String = "127.0.0.1") -> String { "postgresql://atelier@\(host):\(port)/ledger" }

    func stop() throws { XCTAssertEqual(try AtelierProcess.commandLeavingDaemons(["bash", Self.script, "stop", "--dir", dir]).status, 0) }
    func start() throws { XCTAssertEqual(try AtelierProcess.commandLeavingDaemons(["bash", Self.script, "start", "--dir", dir]).status, 0) }
    func down() { _ = try? AtelierProcess.commandLeavingDaemons(["bash", Self.script, "down", "--dir", dir]) }

    /// One query through psql: its rows, fields separated by |.
    func query(_ sql: String) throws -> [String] {
        let r = try AtelierProcess.command(["psql", url(), "-Atc", sql])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map(String.init)
    }
}

/// The site ledger on a real PostgreSQL server, through the CLI: jobs on several netns hosts at
/// once, a server restart in the middle of a run, `atelier ledger copy`, and the errors.
final class PostgreSQLLedgerTests: XCTestCase {
    var dir: URL!
    var server: PostgreSQLTestServer?
    var cluster: NetnsCluster?

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "trains real jobs; run with swift test -c release")
        dir = try temporaryDirectory("postgres")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws {
        server?.down()
        cluster?.down()
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func report(_ ledger: String, _ extra: [String] = []) throws -> [String: Any] {
        let r = try AtelierProcess.run(["report", "--ledger", ledger, "--profile", dir.appendingPathComponent("cluster.toml").path, "--json"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        var json = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        json["generated"] = nil
        json["ledger"] = nil
        return json
    }

    static func usage(_ job: [String: Any]) -> [String: Double] { job["usage"] as? [String: Double] ?? [:] }

    /// The accounting values of a checkpoint (`atelier checkpoint inspect`).
    func checkpointTotals(_ path: String) throws -> [String: Double] {
        let r = try AtelierProcess.run(["checkpoint", "inspect", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("accounting: ") }, r.stdout + r.stderr)
        return Dictionary(uniqueKeysWithValues: line.dropFirst("accounting: ".count).split(separator: " ").map {
            let kv = $0.split(separator: "=")
            return (String(kv[0]), kv.count == 2 ? Double(kv[1]) ?? .nan : .nan)
        })
    }

    /// Four jobs at once on two netns hosts write one PostgreSQL ledger over the hosts' network:
    /// two jobs span both hosts (rank 0 on host 0), two run on host 1 alone. Every record lands;
    /// the report's totals are the sum of the jobs', each equals its final checkpoint, and the same
    /// records in an SQLite ledger (`atelier ledger copy`) give the same report.
    func testFourJobsOnTwoHostsWriteOnePostgreSQLLedger() throws {
        try XCTSkipUnless(NetnsCluster.available(), "the netns cluster needs root and network namespaces")
        let cluster = NetnsCluster(dir: dir.appendingPathComponent("netns"))
        self.cluster = cluster
        try cluster.up(2)
        let link = try cluster.linkRoot()
        XCTAssertEqual(link.status, 0, link.stderr)
        let server = try PostgreSQLTestServer(listen: ["10.213.0.254"])
        self.server = server
        let ledger = server.url(host: "10.213.0.254")
        let names = ["span1", "span2", "h1a", "h1b"]
        let jobs = try names.map { try writeTinyJob(in: dir, name: $0, micro: 4, extra: "[checkpoint]\ninterval_iterations = 0",
                                                    accounting: "interval_seconds = 0.2\nledger = \"\(ledger)\"") }
        final class Results: @unchecked Sendable { var out = ["", "", "", ""]; var status: [Int32] = [-1, -1, -1, -1]; let lock = NSLock() }
        let results = Results()
        let common = ["--set", "train.iterations=40", "--set", "distributed.blas_threads=1"]
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let r: AtelierProcess.Result?
            if i < 2 {
                r = try? cluster.train(["train", jobs[i]] + common, ranks: 2, environment: ["PGPASSWORD"])
            } else {
                r = try? AtelierProcess.command(["timeout", "300", "ip", "netns", "exec", NetnsCluster.namespace(host: 1), AtelierProcess.executable,
                                                 "train", jobs[i]] + common)
            }
            results.lock.lock(); results.status[i] = r?.status ?? -1; results.out[i] = (r?.stdout ?? "") + (r?.stderr ?? ""); results.lock.unlock()
        }
        XCTAssertEqual(results.status, [0, 0, 0, 0], results.out.joined(separator: "\n----\n"))
        XCTAssertTrue(results.out[0].contains("micro 4 x 2 ranks") || results.out[0].contains("2 ranks"), results.out[0])
        for out in results.out { XCTAssertFalse(out.contains("buffered"), out) }   // no outage here

        let all = try report(server.url())
        let reported = try XCTUnwrap(all["jobs"] as? [[String: Any]])
        XCTAssertEqual(Set(reported.compactMap { $0["name"] as? String }), Set(names))
        let total = try XCTUnwrap(all["total"] as? [String: Double])
        for key in ["energy_kwh", "model_pflops", "device_hours", "total_kgco2eq"] {
            XCTAssertEqual(total[key]!, reported.reduce(0) { $0 + Self.usage($1)[key]! }, accuracy: 1e-12, key)
        }
        // 40 iterations x 8 sequences x 32 tokens x (6N + 12LhT) each, as in AccountingTests
        let n = 2.0 * 12 * 32 * 32 + 260 * 32
        let flops = 40.0 * 8 * 32 * (6 * n + 12 * 2 * 32 * 32)
        XCTAssertEqual(total["model_pflops"]!, 4 * flops / 1e15, accuracy: 4 * flops / 1e15 * 1e-12)
        for job in reported {
            let name = job["name"] as? String ?? "?"
            let totals = try checkpointTotals(dir.appendingPathComponent("runs/\(name)/checkpoints/iter_0000040.h5").path)
            XCTAssertEqual(totals["energy_kwh"]!, Self.usage(job)["energy_kwh"]!, accuracy: 1e-12, name)
        }
        let rows = try server.query("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM intervals")
        print("PostgreSQL ledger after 4 jobs on 2 hosts: intervals, jobs = \(rows)")
        let sqlite = dir.appendingPathComponent("copy.sqlite").path
        let copy = try AtelierProcess.run(["ledger", "copy", server.url(), sqlite])
        XCTAssertEqual(copy.status, 0, copy.stderr)
        XCTAssertEqual(NSDictionary(dictionary: try report(sqlite)), NSDictionary(dictionary: all))
    }

    /// The server is stopped in the middle of a run and started again: training goes on, the
    /// records of the outage are written once the server is back, nothing is lost or doubled, and
    /// the ledger agrees with the final checkpoint and (copied) with an SQLite ledger.
    func testServerRestartInTheMiddleOfARun() throws {
        let server = try PostgreSQLTestServer()
        self.server = server
        let job = try writeTinyJob(in: dir, name: "outage", micro: 8, extra: "[checkpoint]\ninterval_iterations = 0",
                                   accounting: "interval_seconds = 0.2\nledger = \"\(server.url())\"")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: AtelierProcess.executable)
        process.arguments = ["train", job, "--set", "train.iterations=10000000", "--set", "train.log_interval=1000000"]
        process.environment = AtelierProcess.cleanEnvironment
        let log = dir.appendingPathComponent("outage.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // (the trainer creates the tables when it first connects: until then there are none)
        func intervals() throws -> Int {
            guard try server.query("SELECT to_regclass('public.intervals') IS NOT NULL").first == "t" else { return 0 }
            return Int(try server.query("SELECT COUNT(*) FROM intervals").first ?? "0") ?? 0
        }
        let deadline = Date().addingTimeInterval(60)
        while try intervals() < 3 && Date() < deadline { usleep(100_000) }
        let before = try intervals()
        try server.stop()
        sleep(3)                      // about 15 intervals while the server is down
        try server.start()
        sleep(2)
        process.terminate()           // SIGTERM: a checkpoint, then exit 4
        process.waitUntilExit()
        try handle.close()
        let output = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(process.terminationStatus, 4, output)
        XCTAssertTrue(output.contains("record(s) buffered and retried"), output)
        XCTAssertTrue(output.contains("is writable again"), output)
        XCTAssertFalse(output.contains(server.password), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/outage/ledger-pending.jsonl").path))

        let counts = try server.query("SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM intervals").first ?? ""
        let n = counts.split(separator: "|").compactMap { Int($0) }
        XCTAssertEqual(n.count, 4, counts)
        XCTAssertEqual(n[0], n[3], "intervals 1...\(n[3]), each once: \(counts)")
        XCTAssertEqual(n[1], n[0])
        XCTAssertEqual(n[2], 1)
        XCTAssertGreaterThan(n[0], before + 10, "intervals of the outage were written afterwards")
        print("outage: \(before) intervals before the server stopped, \(n[0]) in all, each once")

        let pg = try report(server.url())
        let jobReport = try XCTUnwrap((pg["jobs"] as? [[String: Any]])?.first)
        XCTAssertEqual(jobReport["status"] as? String, "stopped")
        let latest = try String(contentsOf: dir.appendingPathComponent("runs/outage/checkpoints/latest"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let checkpoint = latest.hasPrefix("/") ? latest : dir.appendingPathComponent("runs/outage/checkpoints/\(latest)").path
        let totals = try checkpointTotals(checkpoint)
        XCTAssertEqual(totals["energy_kwh"]!, Self.usage(jobReport)["energy_kwh"]!, accuracy: 1e-12)
        XCTAssertEqual(totals["model_flops"]! / 1e15, Self.usage(jobReport)["model_pflops"]!, accuracy: 1e-12)
        let sqlite = dir.appendingPathComponent("copy.sqlite").path
        XCTAssertEqual(try AtelierProcess.run(["ledger", "copy", server.url(), sqlite]).status, 0)
        XCTAssertEqual(NSDictionary(dictionary: try report(sqlite)), NSDictionary(dictionary: pg))
    }

    /// Two jobs, each with its own SQLite ledger (two nodes), merged by `atelier ledger copy`
    /// into one SQLite ledger and into PostgreSQL: the same report, the sum of the two; copying
    /// again adds nothing.
    func testLedgerCopyMergesAndIsIdempotent() throws {
        let server = try PostgreSQLTestServer()
        self.server = server
        var ledgers: [String] = []
        for name in ["node1", "node2"] {
            let ledger = dir.appendingPathComponent("\(name).sqlite").path
            ledgers.append(ledger)
            let job = try writeTinyJob(in: dir, name: name, micro: 8, accounting: "interval_seconds = 0.2\nledger = \"\(ledger)\"")
            let r = try AtelierProcess.run(["train", job, "--set", "train.iterations=12"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let merged = dir.appendingPathComponent("merged.sqlite").path
        for destination in [merged, server.url()] {
            let first = try AtelierProcess.run(["ledger", "copy"] + ledgers + [destination])
            XCTAssertEqual(first.status, 0, first.stderr)
            XCTAssertTrue(first.stdout.contains("1 jobs (1 new)"), first.stdout)
            let again = try AtelierProcess.run(["ledger", "copy"] + ledgers + [destination])
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertTrue(again.stdout.contains("1 jobs (0 new)") && again.stdout.contains("intervals (0 new)")
                          && !again.stdout.contains("events (1") , again.stdout)
        }
        let one = try report(merged), two = try report(server.url())
        XCTAssertEqual(NSDictionary(dictionary: one), NSDictionary(dictionary: two))
        let parts = try ledgers.map { try report($0) }
        let total = try XCTUnwrap(one["total"] as? [String: Double])
        for key in ["energy_kwh", "model_pflops", "device_hours"] {
            XCTAssertEqual(total[key]!, parts.reduce(0) { $0 + ($1["total"] as! [String: Double])[key]! }, accuracy: 1e-12, key)
        }
        let missing = try AtelierProcess.run(["ledger", "copy", dir.appendingPathComponent("none.sqlite").path, merged])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("none.sqlite: no such file"), missing.stderr)
    }

    /// A wrong password, a server that is not there and a password in the URL: exit 2 with the
    /// ledger named and no password shown.
    func testWrongPasswordMissingServerAndPasswordInURL() throws {
        let server = try PostgreSQLTestServer()
        self.server = server
        let wrong = try AtelierProcess.run(["report", "--ledger", server.url()], environment: ["PGPASSWORD": "wrong-pw-123"])
        XCTAssertEqual(wrong.status, 2)
        XCTAssertTrue(wrong.stderr.contains("ledger \(server.url()): the server refused the password"), wrong.stderr)
        XCTAssertFalse(wrong.stderr.contains("wrong-pw-123") || wrong.stderr.contains(server.password), wrong.stderr)
        let nowhere = try AtelierProcess.run(["report", "--ledger", "postgresql://atelier@127.0.0.1:1/ledger"])
        XCTAssertEqual(nowhere.status, 2)
        XCTAssertTrue(nowhere.stderr.contains("ledger postgresql://atelier@127.0.0.1:1/ledger: cannot connect"), nowhere.stderr)
        let inline = try AtelierProcess.run(["report", "--ledger", "postgresql://atelier:\(server.password)@127.0.0.1:\(server.port)/ledger"])
        XCTAssertEqual(inline.status, 2)
        XCTAssertTrue(inline.stderr.contains("holds a password"), inline.stderr)
        XCTAssertFalse(inline.stderr.contains(server.password), inline.stderr)
        let job = try writeTinyJob(in: dir, name: "secret", micro: 8,
                                   accounting: "ledger = \"postgresql://atelier:\(server.password)@127.0.0.1:\(server.port)/ledger\"")
        let train = try AtelierProcess.run(["train", job])
        XCTAssertEqual(train.status, 2)
        XCTAssertTrue(train.stderr.contains("accounting.ledger") && train.stderr.contains("PGPASSWORD"), train.stderr)
        XCTAssertFalse(train.stderr.contains(server.password), train.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/secret").path), "nothing created on disk")
    }
}

import AtelierAccounting
import Foundation
import XCTest

/// Two launches of job "a" (under Slurm job 4242; the second resumes from iteration 30, so
/// iterations 31-50 of the first are lost), a retried interval and a retried event, a validation,
/// and a failed job "b" in another group.
func sampleOperations() -> [LedgerOperation] {
    let slurm = SlurmAllocation(jobID: "4242", account: "bloom", partition: "cpu", nodeList: "node[01-02]")
    var a = job("a")
    a.slurm = slurm
    var ops: [LedgerOperation] = [.begin(a, segment: 1, at: 100),
                                  .event(jobID: "a", kind: "budget-warning", message: "'tests' used 80% ? of it", at: 100)]
    for i in 1...5 {
        var r = interval("a", i, iterations: (i * 10 - 9)...(i * 10), kWh: 0.1 * Double(i))
        r.slurm = slurm
        ops.append(.interval(r))
    }
    ops += [.interval(interval("a", 3, iterations: 21...30, kWh: 0.3)),   // a retry
            .event(jobID: "a", kind: "budget-warning", message: "'tests' used 80% ? of it", at: 100),   // a retry
            .validation(jobID: "a", iteration: 50, results: [ValidationRecord(dataset: "fr", loss: 2.5, bitsPerByte: 1.25)], at: 101),
            .begin(a, segment: 2, at: 200),
            .lost(jobID: "a", afterIteration: 30, segment: 2),
            .interval(interval("a", segment: 2, 1, iterations: 31...40, kWh: 1.0 / 3.0)),
            .end(jobID: "a", status: .finished, reason: "done", at: 300),
            .begin(job("b", group: "other"), segment: 1, at: 150),
            .interval(interval("b", 1, iterations: 1...10, kWh: 0.7)),
            .end(jobID: "b", status: .failed, reason: "rank 1 died", at: 160)]
    return ops
}

/// Everything a report reads from a ledger, comparable.
struct LedgerContents: Equatable {
    var jobs: [LedgerJob], intervals: [LedgerInterval], events: [LedgerEvent], validations: [String], totals: [AccountingTotals], used: [Double]
    init(_ ledger: Ledger) throws {
        jobs = try ledger.jobs()
        intervals = try ledger.intervals()
        events = try ledger.events()
        validations = try ledger.latestValidations().sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.iteration) \($0.value.results)" }
        totals = try ["a", "b"].flatMap { [try ledger.totals(jobID: $0), try ledger.totals(jobID: $0, lost: true)] }
        used = try ["tokenization", "other"].map { try ledger.usedDeviceHours(workingGroup: $0) }
    }
}

/// The ledger's operations on SQLite and on a real PostgreSQL server: the same rows, the same
/// totals, bit for bit (DOUBLE PRECISION, not float4; exact float text both ways).
final class LedgerStoreTests: XCTestCase {
    var server: TestPostgreSQLServer?

    override func tearDown() { server?.down() }

    func testSameOperationsGiveTheSameRowsOnBothStores() throws {
        let server = try TestPostgreSQLServer()
        self.server = server
        let sqlite = try Ledger(path: temporaryPath("ledger.sqlite"))
        let postgres = try Ledger(path: server.url)
        XCTAssertEqual(postgres.path, server.url)
        for op in sampleOperations() {
            try sqlite.apply(op)
            try postgres.apply(op)
        }
        let expected = try LedgerContents(sqlite)
        XCTAssertEqual(try LedgerContents(postgres), expected)
        // and the values are the ones written
        XCTAssertEqual(expected.jobs.map(\.record.id), ["a", "b"])
        XCTAssertEqual(expected.jobs[0].launches, 2)
        XCTAssertEqual(expected.jobs[0].status, "finished")
        XCTAssertEqual(expected.jobs[0].record.slurm?.nodeList, "node[01-02]")
        XCTAssertNil(expected.jobs[1].record.slurm)
        XCTAssertEqual(expected.intervals.count, 7)
        XCTAssertEqual(expected.intervals.filter(\.lost).map(\.record.sequence), [4, 5])
        XCTAssertEqual(expected.intervals.first { $0.record.jobID == "a" && $0.record.segment == 2 }?.record.totals.energyKWh, 1.0 / 3.0)
        XCTAssertEqual(expected.events.map(\.kind), ["budget-warning", "launch-lost"])
        XCTAssertEqual(expected.validations, ["a 50 [AtelierAccounting.ValidationRecord(dataset: \"fr\", loss: 2.5, bitsPerByte: 1.25)]"])
        XCTAssertEqual(expected.totals[0].modelFlops, 40e12)
        XCTAssertEqual(expected.totals[0].energyKWh, 0.1 + 0.2 + 0.3 + 1.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(expected.totals[1].energyKWh, 0.4 + 0.5, accuracy: 1e-15)
        XCTAssertEqual(expected.used, [6 * 2, 2])
        // replaying every operation (a spill replayed after a lost commit acknowledgement) changes nothing
        for op in sampleOperations() {
            if case .begin = op { continue }   // a begin is a new launch, not a replay
            try postgres.apply(op)
        }
        XCTAssertEqual(try LedgerContents(postgres).intervals, expected.intervals)
        XCTAssertEqual(try LedgerContents(postgres).events, expected.events)
    }

    /// Six jobs open a new PostgreSQL ledger at once (the migrations run under an advisory lock)
    /// and write 20 intervals each: nothing lost or doubled.
    func testConcurrentWritersOnPostgreSQL() throws {
        let server = try TestPostgreSQLServer()
        self.server = server
        let writers = 6, intervals = 20
        final class Errors: @unchecked Sendable { let lock = NSLock(); var list: [String] = [] }
        let errors = Errors()
        let url = server.url
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            do {
                let ledger = try Ledger(path: url)
                try ledger.apply(.begin(job("j\(w)"), segment: 1, at: Double(w)))
                for i in 1...intervals { try ledger.apply(.interval(interval("j\(w)", i, iterations: (i * 10 - 9)...(i * 10)))) }
                try ledger.apply(.end(jobID: "j\(w)", status: .finished, reason: "done", at: 1))
            } catch {
                errors.lock.lock(); errors.list.append("writer \(w): \(error)"); errors.lock.unlock()
            }
        }
        XCTAssertEqual(errors.list, [])
        let ledger = try Ledger(path: url)
        XCTAssertEqual(try ledger.jobs().count, writers)
        XCTAssertEqual(try ledger.intervals().count, writers * intervals)
        for w in 0..<writers { XCTAssertEqual(try ledger.totals(jobID: "j\(w)").modelFlops, Double(intervals * 10) * 1e12) }
        XCTAssertEqual(try ledger.usedDeviceHours(workingGroup: "tokenization"), Double(writers * intervals) * 2)
    }

    /// The server stops in the middle of a run and starts again: the writer buffers (one warning),
    /// writes everything once it is back, spills what is left at the end and the next launch
    /// replays it; nothing is lost or doubled, and the totals equal the same work in SQLite.
    func testServerRestartLosesAndDoublesNothing() throws {
        let server = try TestPostgreSQLServer()
        self.server = server
        final class Warnings: @unchecked Sendable { let lock = NSLock(); var lines: [String] = [] }
        let warnings = Warnings()
        let warn: @Sendable (String) -> Void = { line in warnings.lock.lock(); warnings.lines.append(line); warnings.lock.unlock() }
        let spill = temporaryPath("ledger-pending.jsonl")
        var ops: [LedgerOperation] = [.begin(job("o"), segment: 1, at: 0)]
        for i in 1...12 { ops.append(.interval(interval("o", i, iterations: (i * 10 - 9)...(i * 10), kWh: 0.01 * Double(i)))) }
        let writer = LedgerWriter(ledgerPath: server.url, spillPath: spill, busyTimeout: 3, warn: warn)
        for op in ops[0...4] { writer.submit(op) }
        XCTAssertEqual(writer.flush(), 0)
        try server.stop()
        for op in ops[5...8] { writer.submit(op) }
        XCTAssertEqual(writer.flush(), 4, "nothing can be written while the server is down")
        try server.start()
        writer.submit(ops[9])
        XCTAssertEqual(writer.flush(), 0)
        try server.stop()
        for op in ops[10...12] { writer.submit(op) }
        writer.submit(.end(jobID: "o", status: .finished, reason: "done", at: 9))
        writer.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: spill))
        try server.start()
        let next = LedgerWriter(ledgerPath: server.url, spillPath: spill, warn: warn)
        XCTAssertEqual(next.flush(), 0)
        next.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: spill))
        let lines = warnings.lines
        XCTAssertTrue(lines.contains { $0.contains("buffered") && $0.contains(server.url) }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("writable again") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains(spill) }, "\(lines)")
        XCTAssertFalse(lines.contains { $0.contains(server.password) }, "\(lines)")

        let postgres = try Ledger(path: server.url)
        let sqlite = try Ledger(path: temporaryPath("same-work.sqlite"))
        for op in ops + [.end(jobID: "o", status: .finished, reason: "done", at: 9)] { try sqlite.apply(op) }
        XCTAssertEqual(try postgres.intervals().count, 12)
        XCTAssertEqual(try postgres.intervals(), try sqlite.intervals())
        XCTAssertEqual(try postgres.jobs(), try sqlite.jobs())
        let total = try postgres.totals(jobID: "o")
        XCTAssertEqual(total, try sqlite.totals(jobID: "o"))
        XCTAssertEqual(total.modelFlops, 120e12)
        XCTAssertEqual(total.energyKWh, try postgres.intervals().reduce(0) { $0 + $1.record.totals.energyKWh }, accuracy: 1e-15)
    }

    /// A wrong password and a server that is not there: clear errors naming the ledger, saying
    /// where the password goes, never showing it.
    func testWrongPasswordAndMissingServerAreClearErrors() throws {
        let server = try TestPostgreSQLServer()
        self.server = server
        setenv("PGPASSWORD", "not-the-password", 1)
        defer { setenv("PGPASSWORD", server.password, 1) }
        XCTAssertThrowsError(try Ledger(path: server.url)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("ledger \(server.url): the server refused the password"), text)
            XCTAssertTrue(text.contains("PGPASSWORD or ~/.pgpass"), text)
            XCTAssertFalse(text.contains("not-the-password") || text.contains(server.password), text)
        }
        let port = try String(contentsOfFile: server.dir + "/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try server.stop()
        let stopped = "postgresql://atelier@127.0.0.1:\(port)/ledger"
        XCTAssertThrowsError(try Ledger(path: stopped)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("ledger \(stopped): cannot connect") && text.contains("Connection refused"), text)
        }
        XCTAssertThrowsError(try Ledger(path: "postgresql://atelier@no-such-host.invalid/ledger")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("ledger postgresql://atelier@no-such-host.invalid:5432/ledger: cannot connect"), text)
            XCTAssertTrue(text.contains("no-such-host.invalid"), text)
        }
    }

    /// Two node-local SQLite ledgers (job "a" launched first on one node, then resumed on another)
    /// merged into SQLite and into PostgreSQL: the same rows, the first launch's redone work marked
    /// lost, and copying again changes nothing.
    func testCopyMergesNodeLedgersAndTwiceChangesNothing() throws {
        let server = try TestPostgreSQLServer()
        self.server = server
        let ops = sampleOperations()
        let split = try XCTUnwrap(ops.firstIndex { op in
            if case .begin(_, let segment, _) = op { return segment == 2 }
            return false
        })
        let node1 = try Ledger(path: temporaryPath("node1.sqlite")), node2 = try Ledger(path: temporaryPath("node2.sqlite"))
        for op in ops[..<split] { try node1.apply(op) }
        for op in ops[split...] { try node2.apply(op) }
        XCTAssertEqual(try node2.intervals().filter(\.lost).count, 0, "node 2 never saw launch 1's intervals")
        let reference = try Ledger(path: temporaryPath("one-ledger.sqlite"))
        for op in ops { try reference.apply(op) }
        let expected = try LedgerContents(reference)

        for destination in [try Ledger(path: temporaryPath("merged.sqlite")), try Ledger(path: server.url)] {
            let first = try destination.copy(from: node1)
            let second = try destination.copy(from: node2)
            let none = ["interval_languages": 0, "interval_water": 0, "estimates": 0, "launch_endings": 0]
            XCTAssertEqual(first.added, none.merging(["jobs": 1, "intervals": 5, "events": 1, "validations": 1]) { $1 }, destination.path)
            XCTAssertEqual(second.added, none.merging(["jobs": 1, "intervals": 2, "events": 0, "validations": 0]) { $1 }, destination.path)
            let merged = try LedgerContents(destination)
            XCTAssertEqual(merged.intervals, expected.intervals, destination.path)
            XCTAssertEqual(merged.totals, expected.totals, destination.path)
            XCTAssertEqual(merged.jobs.map(\.launches), [2, 1])
            XCTAssertEqual(merged.jobs.map(\.started), [100, 150])
            XCTAssertEqual(merged.jobs.map(\.status), ["finished", "failed"])
            // node 2's launch-lost event is missing on node 1's side: it never saw launch 1 end
            XCTAssertEqual(merged.events.map(\.kind), ["budget-warning"])
            for source in [node1, node2] {
                XCTAssertEqual(try destination.copy(from: source).added, none.merging(["jobs": 0, "intervals": 0, "events": 0, "validations": 0]) { $1 })
            }
            XCTAssertEqual(try LedgerContents(destination), merged, destination.path)
        }
    }
}

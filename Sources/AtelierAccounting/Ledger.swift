import Foundation
import GRDB
import PostgreSQL

/// The site's ledger: an SQLite file (GRDB, WAL mode with a busy timeout, for one machine) or a
/// PostgreSQL database (`postgresql://user@host:port/db`, for a whole site), which every job
/// writes. Schema in docs/accounting.md and `LedgerMigrations`. Each write is one transaction; an
/// interval is inserted once whatever the retries (its key is job, segment, sequence), and so is
/// an event (job, time, kind, message).
public final class Ledger: @unchecked Sendable {
    /// The ledger as given, a path or a URL (which holds no password): named in every error.
    public let path: String
    public let location: LedgerLocation
    let store: any LedgerStore

    /// Opens the ledger at `path`, a file path or a PostgreSQL URL, creating it and its tables or
    /// migrating them if need be; or, `readingOnly`, one that exists, as it is (a source to copy).
    /// `busyTimeout`: how long an SQLite write waits for a lock, and a PostgreSQL connection for
    /// the server.
    public init(path: String, busyTimeout: TimeInterval = 30, readingOnly: Bool = false) throws {
        location = try LedgerLocation(path)
        self.path = location.description
        do {
            switch location {
            case .sqlite(let file):
                store = readingOnly ? try SQLiteLedgerStore(readingOnly: file) : try SQLiteLedgerStore(path: file, busyTimeout: busyTimeout)
            case .postgreSQL(let address):
                store = try PostgreSQLLedgerStore(address: address, connectTimeout: min(busyTimeout, 10), migrating: !readingOnly)
            }
        } catch {
            throw Self.wrap(error, path: self.path)
        }
    }

    /// Any failure as an AccountingError naming the ledger.
    static func wrap(_ error: Error, path: String) -> AccountingError {
        if let e = error as? AccountingError { return e }
        if let e = error as? DatabaseError { return .ledger(path: path, problem: SQLiteLedgerStore.describe(e)) }
        if let e = error as? PostgreSQLError { return .ledger(path: path, problem: PostgreSQLLedgerStore.describe(e)) }
        return .ledger(path: path, problem: "\(error)")
    }

    /// Runs `body` in one transaction: all of it is written, or none.
    public func write<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T {
        do { return try store.write(body) } catch { throw Self.wrap(error, path: path) }
    }

    public func read<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T {
        do { return try store.read(body) } catch { throw Self.wrap(error, path: path) }
    }

    /// Applies one operation in its own transaction.
    public func apply(_ op: LedgerOperation) throws {
        try write { db in try Self.apply(op, db) }
    }

    static func apply(_ op: LedgerOperation, _ db: any LedgerDatabase) throws {
        let slurmColumns = SlurmAllocation.columns.joined(separator: ", ")
        switch op {
        case .begin(let j, let segment, let at):
            // A launch still marked running ended without saying so: killed, out of memory, a node lost.
            try db.execute(sql: """
                INSERT INTO events (job_id, at, kind, message)
                SELECT id, ?, 'launch-lost', 'launch ' || segments || ' ended without a record (killed, out of memory or a lost node); its work after its last checkpoint is counted as lost'
                FROM jobs WHERE id = ? AND status = 'running' AND segments < ?
                ON CONFLICT DO NOTHING
                """, arguments: [at, j.id, segment])
            try db.execute(sql: """
                INSERT INTO launch_endings (job_id, segment, ending, reason, at)
                SELECT id, segments, '\(LaunchEnding.killed.rawValue)', 'ended without a record (killed, out of memory or a lost node)', ?
                FROM jobs WHERE id = ? AND status = 'running' AND segments < ?
                ON CONFLICT DO NOTHING
                """, arguments: [at, j.id, segment])
            try db.execute(sql: """
                INSERT INTO jobs (id, name, working_group, "user", job_hash, profile, site, run_dir, world_size, segments, started_at, status, \(slurmColumns))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET job_hash = excluded.job_hash, profile = excluded.profile, site = excluded.site,
                    world_size = excluded.world_size, segments = \(db.dialect.greatest("jobs.segments", "excluded.segments")), status = 'running',
                    ended_at = NULL, exit_reason = '',
                    \(SlurmAllocation.columns.map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
                """, arguments: [j.id, j.name, j.workingGroup, j.user, j.jobHash, j.profile, j.site, j.runDirectory, j.worldSize, segment, at]
                    + SlurmAllocation.values(j.slurm))
        case .interval(let i):
            let columns = ["job_id", "segment", "seq", "start", "\"end\"", "first_iteration", "last_iteration", "tokens", "loss", "mfu"]
                + AccountingTotals.fieldNames + SlurmAllocation.columns + IntervalOverheads.columns
            let values: LedgerArguments = [i.jobID, i.segment, i.sequence, i.start, i.end, i.firstIteration, i.lastIteration,
                                           i.tokens, i.loss, i.mfu] + i.totals.values + SlurmAllocation.values(i.slurm)
                + (i.overheads ?? IntervalOverheads()).values
            try db.execute(sql: "INSERT INTO intervals (\(columns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", "))) ON CONFLICT DO NOTHING",
                           arguments: values)
            try insertLanguagesAndWater(i, db)
        case .lost(let id, let after, let segment):
            // Work after the checkpoint a launch resumed from was done again: keep it, marked lost.
            try db.execute(sql: "UPDATE intervals SET lost = 1 WHERE job_id = ? AND segment < ? AND last_iteration > ?",
                           arguments: [id, segment, after])
        case .end(let id, let status, let reason, let at):
            try db.execute(sql: "UPDATE jobs SET status = ?, exit_reason = ?, ended_at = ? WHERE id = ?",
                           arguments: [status.rawValue, reason, at, id])
        case .validation(let id, let iteration, let results, let at):
            for r in results where r.loss.isFinite && r.bitsPerByte.isFinite {
                try db.execute(sql: """
                    INSERT INTO validations (job_id, iteration, dataset, loss, bits_per_byte, at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (job_id, iteration, dataset) DO UPDATE SET loss = excluded.loss, bits_per_byte = excluded.bits_per_byte, at = excluded.at
                    """, arguments: [id, iteration, r.dataset, r.loss, r.bitsPerByte, at])
            }
        case .estimate(let e):
            try db.execute(sql: "INSERT INTO estimates (\(EstimateRecord.columns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: EstimateRecord.columns.count).joined(separator: ", "))) ON CONFLICT (job_id) DO NOTHING",
                           arguments: e.values)
        case .launchEnded(let id, let segment, let ending, let reason, let at):
            try db.execute(sql: "INSERT INTO launch_endings (job_id, segment, ending, reason, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, segment) DO NOTHING",
                           arguments: [id, segment, ending.rawValue, reason, at])
        case .event(let id, let kind, let message, let at):
            try db.execute(sql: "INSERT INTO events (job_id, at, kind, message) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           arguments: [id, at, kind, message])
        }
    }

    // MARK: reading

    /// Device-hours a working group has used (counted and lost work alike: both were consumed).
    public func usedDeviceHours(workingGroup: String) throws -> Double {
        try read { db in
            try db.fetchOne(sql: """
                SELECT COALESCE(SUM(i.device_seconds), 0) / 3600 FROM intervals i JOIN jobs j ON j.id = i.job_id
                WHERE j.working_group = ?
                """, arguments: [workingGroup])?[0] ?? 0
        }
    }

    /// The sum of a job's intervals: `lost` false for the work its checkpoints contain.
    public func totals(jobID: String, lost: Bool = false) throws -> AccountingTotals {
        try read { db in
            guard let row = try db.fetchOne(sql: """
                SELECT \(AccountingTotals.fieldNames.map { "COALESCE(SUM(\($0)), 0)" }.joined(separator: ", "))
                FROM intervals WHERE job_id = ? AND lost = ?
                """, arguments: [jobID, lost ? 1 : 0]) else { return AccountingTotals() }
            return AccountingTotals(values: try (0..<AccountingTotals.fieldNames.count).map { try row[$0] as Double }) ?? AccountingTotals()
        }
    }
}

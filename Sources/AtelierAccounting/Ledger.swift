import Foundation
import GRDB

/// The site's ledger: one SQLite database (through GRDB) that every job of the site writes, in WAL
/// mode with a busy timeout so that many jobs can write at once. Schema in docs/accounting.md.
/// Each write is one transaction; an interval is inserted once whatever the retries (its key is
/// job, segment, sequence).
public final class Ledger: @unchecked Sendable {
    public let path: String
    let pool: DatabasePool

    public init(path: String, busyTimeout: TimeInterval = 30) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.label = "atelier-ledger"
        // Jobs that start together on a new ledger race to switch it to WAL and to create its
        // tables; SQLite answers the losers "busy" or "exists" at once, without waiting. They
        // retry, and then find the work done.
        // (Only for as long as one busy wait: a ledger another process holds locked is an outage
        // for the caller to handle, not a race.)
        var attempt = 0
        let deadline = Date().addingTimeInterval(max(busyTimeout, 1))
        while true {
            do {
                let pool = try DatabasePool(path: path, configuration: config)
                try Self.migrator.migrate(pool)
                self.pool = pool
                break
            } catch let error as DatabaseError where attempt < 30 && Date() < deadline
                        && [.SQLITE_ERROR, .SQLITE_CONSTRAINT, .SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) {
                attempt += 1
                usleep(useconds_t(10_000 * min(attempt, 10)))
            } catch {
                throw AccountingError.ledger(path: path, problem: Self.describe(error))
            }
        }
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? DatabaseError {
            switch e.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return "it is not a readable ledger (\(e.message ?? "corrupt")); move it aside and atelier will start a new one"
            case .SQLITE_BUSY, .SQLITE_LOCKED: return "it is locked by another process (\(e.message ?? "busy"))"
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_IOERR:
                return "it cannot be opened for writing (\(e.message ?? "\(e.resultCode)")); check the path and its permissions"
            default: return e.message ?? "\(e)"
            }
        }
        return "\(error)"
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS jobs (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, working_group TEXT NOT NULL, user TEXT NOT NULL,
                    job_hash TEXT NOT NULL, profile TEXT NOT NULL, site TEXT NOT NULL, run_dir TEXT NOT NULL,
                    world_size INTEGER NOT NULL, segments INTEGER NOT NULL DEFAULT 0,
                    started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL, exit_reason TEXT NOT NULL DEFAULT '');
                CREATE TABLE IF NOT EXISTS intervals (
                    job_id TEXT NOT NULL REFERENCES jobs(id), segment INTEGER NOT NULL, seq INTEGER NOT NULL,
                    start REAL NOT NULL, end REAL NOT NULL, first_iteration INTEGER NOT NULL, last_iteration INTEGER NOT NULL,
                    tokens INTEGER NOT NULL, loss REAL, mfu REAL,
                    model_flops REAL NOT NULL, hardware_flops REAL NOT NULL, device_seconds REAL NOT NULL, node_seconds REAL NOT NULL,
                    cpu_kwh REAL NOT NULL, gpu_kwh REAL NOT NULL, ram_kwh REAL NOT NULL, static_kwh REAL NOT NULL,
                    energy_kwh REAL NOT NULL, emissions_kg REAL NOT NULL, embodied_kg REAL NOT NULL,
                    lost INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (job_id, segment, seq));
                CREATE INDEX IF NOT EXISTS intervals_by_time ON intervals(end);
                CREATE TABLE IF NOT EXISTS events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, at REAL NOT NULL,
                    kind TEXT NOT NULL, message TEXT NOT NULL);
                """)
        }
        m.registerMigration("v2: validations") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS validations (
                    job_id TEXT NOT NULL, iteration INTEGER NOT NULL, dataset TEXT NOT NULL,
                    loss REAL NOT NULL, bits_per_byte REAL NOT NULL, at REAL NOT NULL,
                    PRIMARY KEY (job_id, iteration, dataset));
                """)
        }
        registerLanguagesAndWater(&m)
        return m
    }

    /// Applies one operation in its own transaction.
    public func apply(_ op: LedgerOperation) throws {
        do {
            try pool.write { db in try Self.apply(op, db) }
        } catch {
            throw AccountingError.ledger(path: path, problem: Self.describe(error))
        }
    }

    static func apply(_ op: LedgerOperation, _ db: Database) throws {
        switch op {
        case .begin(let j, let segment, let at):
            // A launch still marked running ended without saying so: killed, out of memory, a node lost.
            try db.execute(sql: """
                INSERT INTO events (job_id, at, kind, message)
                SELECT id, ?, 'launch-lost', 'launch ' || segments || ' ended without a record (killed, out of memory or a lost node); its work after its last checkpoint is counted as lost'
                FROM jobs WHERE id = ? AND status = 'running' AND segments < ?
                """, arguments: [at, j.id, segment])
            try db.execute(sql: """
                INSERT INTO jobs (id, name, working_group, user, job_hash, profile, site, run_dir, world_size, segments, started_at, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')
                ON CONFLICT(id) DO UPDATE SET job_hash = excluded.job_hash, profile = excluded.profile, site = excluded.site,
                    world_size = excluded.world_size, segments = max(segments, excluded.segments), status = 'running',
                    ended_at = NULL, exit_reason = ''
                """, arguments: [j.id, j.name, j.workingGroup, j.user, j.jobHash, j.profile, j.site, j.runDirectory, j.worldSize, segment, at])
        case .interval(let i):
            let columns = ["job_id", "segment", "seq", "start", "end", "first_iteration", "last_iteration", "tokens", "loss", "mfu"]
                + AccountingTotals.fieldNames
            let values: [DatabaseValueConvertible?] = [i.jobID, i.segment, i.sequence, i.start, i.end, i.firstIteration, i.lastIteration,
                                                       i.tokens, i.loss, i.mfu] + i.totals.values
            try db.execute(sql: "INSERT OR IGNORE INTO intervals (\(columns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))",
                           arguments: StatementArguments(values))
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
                try db.execute(sql: "INSERT OR REPLACE INTO validations (job_id, iteration, dataset, loss, bits_per_byte, at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [id, iteration, r.dataset, r.loss, r.bitsPerByte, at])
            }
        case .event(let id, let kind, let message, let at):
            try db.execute(sql: "INSERT INTO events (job_id, at, kind, message) VALUES (?, ?, ?, ?)", arguments: [id, at, kind, message])
        }
    }

    // MARK: reading

    /// Device-hours a working group has used (counted and lost work alike: both were consumed).
    public func usedDeviceHours(workingGroup: String) throws -> Double {
        try read { db in
            try Double.fetchOne(db, sql: """
                SELECT COALESCE(SUM(i.device_seconds), 0) / 3600 FROM intervals i JOIN jobs j ON j.id = i.job_id
                WHERE j.working_group = ?
                """, arguments: [workingGroup]) ?? 0
        }
    }

    /// The sum of a job's intervals: `lost` false for the work its checkpoints contain.
    public func totals(jobID: String, lost: Bool = false) throws -> AccountingTotals {
        try read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT \(AccountingTotals.fieldNames.map { "COALESCE(SUM(\($0)), 0)" }.joined(separator: ", "))
                FROM intervals WHERE job_id = ? AND lost = ?
                """, arguments: [jobID, lost ? 1 : 0])
            return AccountingTotals(values: (0..<AccountingTotals.fieldNames.count).map { row?[$0] ?? 0.0 }) ?? AccountingTotals()
        }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw AccountingError.ledger(path: path, problem: Self.describe(error)) }
    }
}

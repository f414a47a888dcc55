import Foundation
import GRDB

/// The ledger in one SQLite file (through GRDB), the default for one machine: WAL mode with a busy
/// timeout so that many jobs can write at once.
final class SQLiteLedgerStore: LedgerStore {
    let pool: any DatabaseWriter
    var dialect: LedgerDialect { .sqlite }

    /// Opens a ledger that must exist, for reading only, as it is (not migrated): a source of
    /// `atelier ledger copy` is not changed by being copied.
    init(readingOnly path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw AccountingError.ledger(path: path, problem: "no such file") }
        var config = Configuration()
        config.readonly = true
        config.label = "atelier-ledger-source"
        pool = try DatabaseQueue(path: path, configuration: config)
    }

    init(path: String, busyTimeout: TimeInterval) throws {
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
                return
            } catch let error as DatabaseError where attempt < 30 && Date() < deadline
                        && [.SQLITE_ERROR, .SQLITE_CONSTRAINT, .SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) {
                attempt += 1
                usleep(useconds_t(10_000 * min(attempt, 10)))
            }
        }
    }

    /// `LedgerMigrations` through GRDB's migrator: it records the names it applied in
    /// grdb_migrations, as it always has.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        for migration in LedgerMigrations.all {
            m.registerMigration(migration.name) { db in try db.execute(sql: migration.sql(.sqlite)) }
        }
        return m
    }

    func write<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteLedgerDatabase(db: db)) }
    }

    func read<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteLedgerDatabase(db: db)) }
    }

    /// An SQLite failure in words, with what to do.
    static func describe(_ e: DatabaseError) -> String {
        switch e.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return "it is not a readable ledger (\(e.message ?? "corrupt")); move it aside and atelier will start a new one"
        case .SQLITE_BUSY, .SQLITE_LOCKED: return "it is locked by another process (\(e.message ?? "busy"))"
        case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_IOERR:
            return "it cannot be opened for writing (\(e.message ?? "\(e.resultCode)")); check the path and its permissions"
        default: return e.message ?? "\(e)"
        }
    }
}

/// GRDB's Database as a LedgerDatabase.
struct SQLiteLedgerDatabase: LedgerDatabase {
    let db: Database
    var dialect: LedgerDialect { .sqlite }

    func execute(sql: String, arguments: LedgerArguments) throws {
        try db.execute(sql: sql, arguments: Self.arguments(arguments))
    }

    func fetchAll(sql: String, arguments: LedgerArguments) throws -> [LedgerRow] {
        try Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments)).map { row in
            LedgerRow(columns: Array(row.columnNames), values: row.databaseValues.map(Self.value))
        }
    }

    static func arguments(_ arguments: LedgerArguments) -> StatementArguments {
        StatementArguments(arguments.map { a -> DatabaseValue in
            switch a.ledgerValue {
            case .null: return .null
            case .integer(let v): return Int64(v).databaseValue
            case .real(let v): return v.databaseValue
            case .text(let v): return v.databaseValue
            }
        })
    }

    static func value(_ v: DatabaseValue) -> LedgerValue {
        switch v.storage {
        case .null: return .null
        case .int64(let i): return .integer(Int(i))
        case .double(let d): return .real(d)
        case .string(let s): return .text(s)
        case .blob(let b): return .text(String(decoding: b, as: UTF8.self))   // the ledger stores no blobs
        }
    }
}

import Foundation
import PostgreSQL

/// The ledger in a PostgreSQL database, for a whole site: every node's jobs write to one server.
/// One connection per Ledger, used by one caller at a time (the lock); a write is one
/// transaction. A lost connection fails the call; the caller (LedgerWriter) opens a new Ledger
/// and retries, and the tables' keys make a retried write land once.
final class PostgreSQLLedgerStore: LedgerStore, @unchecked Sendable {
    let address: PostgreSQLAddress
    private let connection: PostgreSQLConnection
    private let lock = NSLock()
    var dialect: LedgerDialect { .postgreSQL }

    /// Held (for its transaction) while migrations are checked and applied, so that jobs starting
    /// together on a new database do not race to create its tables: "atelier" in ASCII.
    static let migrationLock = 0x61_74_65_6c_69_65_72

    /// `migrating` false: the tables are read as they are (a source of `atelier ledger copy`).
    init(address: PostgreSQLAddress, connectTimeout: TimeInterval, migrating: Bool = true) throws {
        self.address = address
        connection = try PostgreSQLConnection(parameters: address.parameters(connectTimeout: connectTimeout))
        if migrating { try migrate() }
    }

    private func migrate() throws {
        try write { db in
            try db.execute(sql: "SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            let applied = Set(try db.fetchAll(sql: "SELECT name FROM schema_migrations").map { try $0["name"] as String })
            for migration in LedgerMigrations.all where !applied.contains(migration.name) {
                try db.execute(sql: migration.sql(.postgreSQL))
                try db.execute(sql: "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                               arguments: [migration.name, Date().timeIntervalSince1970])
            }
        }
    }

    func write<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        try connection.execute("BEGIN")
        do {
            let result = try body(PostgreSQLLedgerDatabase(connection: connection))
            try connection.execute("COMMIT")
            return result
        } catch {
            // The body's error is the one to report; when the connection is gone the server has
            // rolled back already, and a failed ROLLBACK says nothing more.
            if connection.isOpen { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
    }

    func read<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(PostgreSQLLedgerDatabase(connection: connection))
    }

    /// A PostgreSQL failure in words, with what to do; never with a password (libpq prints none).
    static func describe(_ e: PostgreSQLError) -> String {
        let message = e.message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        if e.isAuthenticationFailure || message.contains("no password supplied") {
            return "the server refused the password (\(message)); put the password in PGPASSWORD or ~/.pgpass (host:port:database:user:password, mode 0600), never in the URL or the job file"
        }
        if e.stage == .connect {
            return "cannot connect (\(message)); check that the server runs and that this node reaches it"
        }
        return message + (e.sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }
}

/// A PostgreSQL connection as a LedgerDatabase: `?` placeholders become $1...$n.
struct PostgreSQLLedgerDatabase: LedgerDatabase {
    let connection: PostgreSQLConnection
    var dialect: LedgerDialect { .postgreSQL }

    func execute(sql: String, arguments: LedgerArguments) throws {
        try connection.execute(dialect.placeholders(sql), arguments.map { Self.parameter($0.ledgerValue) })
    }

    func fetchAll(sql: String, arguments: LedgerArguments) throws -> [LedgerRow] {
        let result = try connection.execute(dialect.placeholders(sql), arguments.map { Self.parameter($0.ledgerValue) })
        return result.rows.map { LedgerRow(columns: result.columns, values: $0.map(Self.value)) }
    }

    static func parameter(_ v: LedgerValue) -> PostgreSQLValue {
        switch v {
        case .null: return .null
        case .integer(let i): return .integer(i)
        case .real(let d): return .real(d)
        case .text(let s): return .text(s)
        }
    }

    static func value(_ v: PostgreSQLValue) -> LedgerValue {
        switch v {
        case .null: return .null
        case .integer(let i): return .integer(i)
        case .real(let d): return .real(d)
        case .text(let s): return .text(s)
        }
    }
}

/// What the ledger's SQL runs on, whichever store holds it (GRDB's `Database`, in its call shape):
/// statements with `?` placeholders, and rows back. Inside `Ledger.write { db in }` every call is
/// part of one transaction. The SQL is the portable subset both stores speak; where they differ
/// (types, GREATEST, keys) it asks `dialect`.
public protocol LedgerDatabase {
    var dialect: LedgerDialect { get }
    func execute(sql: String, arguments: LedgerArguments) throws
    func fetchAll(sql: String, arguments: LedgerArguments) throws -> [LedgerRow]
}

extension LedgerDatabase {
    public func execute(sql: String) throws { try execute(sql: sql, arguments: []) }
    public func fetchAll(sql: String) throws -> [LedgerRow] { try fetchAll(sql: sql, arguments: []) }
    public func fetchOne(sql: String, arguments: LedgerArguments = []) throws -> LedgerRow? {
        try fetchAll(sql: sql, arguments: arguments).first
    }
}

/// A place the ledger lives: an SQLite file or a PostgreSQL database. Each opens itself, applies
/// `LedgerMigrations`, and runs a body in one transaction (`write`) or as reads (`read`).
protocol LedgerStore: AnyObject {
    var dialect: LedgerDialect { get }
    func write<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T
    func read<T>(_ body: (any LedgerDatabase) throws -> T) throws -> T
}

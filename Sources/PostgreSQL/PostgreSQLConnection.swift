import CPostgreSQL
import Foundation

/// One connection to a PostgreSQL server through libpq. Not thread-safe: one caller at a time.
/// The password is never passed here: libpq reads it from PGPASSWORD or ~/.pgpass (PGPASSFILE).
public final class PostgreSQLConnection {
    private let connection: OpaquePointer

    /// Connects with libpq's keywords (`host`, `port`, `user`, `dbname`, `connect_timeout`, ...).
    public init(parameters: [(String, String)]) throws {
        let keys = parameters.map { strdup($0.0) } + [nil]
        let values = parameters.map { strdup($0.1) } + [nil]
        defer { (keys + values).forEach { free($0) } }
        let made: OpaquePointer? = keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 0)
            }
        }
        guard let made else { throw PostgreSQLError(stage: .connect, sqlState: nil, message: "libpq could not allocate a connection") }
        guard PQstatus(made) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(made))
            PQfinish(made)
            throw PostgreSQLError(stage: .connect, sqlState: message.contains("password authentication failed") ? "28P01" : nil,
                                  message: message)
        }
        connection = made
        // Messages (notices) from the server go nowhere: errors come back as PostgreSQLError.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
    }

    deinit { PQfinish(connection) }

    /// Runs one statement with `$1...$n` parameters; or, without parameters, any number of
    /// statements separated by semicolons (a migration). Rows come back typed by column.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgreSQLValue] = []) throws -> PostgreSQLResult {
        let result: OpaquePointer?
        if parameters.isEmpty {
            result = PQexec(connection, sql)
        } else {
            let bound = parameters.map(\.parameter)
            let texts = bound.map { $0.text.map { strdup($0) } ?? nil }
            defer { texts.forEach { free($0) } }
            result = texts.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
                bound.map(\.oid).withUnsafeBufferPointer { types in
                    PQexecParams(connection, sql, Int32(bound.count), types.baseAddress, values.baseAddress, nil, nil, 0)
                }
            }
        }
        guard let result else {
            throw PostgreSQLError(stage: .execute, sqlState: nil, message: Self.trimmed(PQerrorMessage(connection)))
        }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let state = PQresultErrorField(result, atelier_pg_diag_sqlstate()).map { String(cString: $0) }
            var message = Self.trimmed(PQresultErrorMessage(result))
            if message.isEmpty { message = Self.trimmed(PQerrorMessage(connection)) }
            PQclear(result)
            throw PostgreSQLError(stage: .execute, sqlState: state, message: message)
        }
        return PostgreSQLResult(taking: result)
    }

    /// Whether libpq still holds a working connection (false after the server went away).
    public var isOpen: Bool { PQstatus(connection) == CONNECTION_OK }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        text.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

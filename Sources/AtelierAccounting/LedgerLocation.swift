import Foundation

/// Where a ledger lives, as `accounting.ledger` and `--ledger` give it: a path (SQLite, the
/// default for one machine) or `postgresql://user@host:port/database` (a site's server).
public enum LedgerLocation: Equatable, Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgreSQL(PostgreSQLAddress)

    /// Reads `text`. A PostgreSQL URL with a password, or one that is not a URL of that shape,
    /// is an error; the message shows the URL without its password.
    public init(_ text: String) throws {
        let lower = text.lowercased()
        guard lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://") else {
            self = .sqlite(path: text)
            return
        }
        self = .postgreSQL(try PostgreSQLAddress(url: text))
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return path
        case .postgreSQL(let address): return address.description
        }
    }

    /// Whether `text` names a PostgreSQL ledger (whether or not it is a valid one).
    public static func isPostgreSQL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://")
    }
}

/// A PostgreSQL database without its password: libpq reads that from PGPASSWORD or ~/.pgpass.
public struct PostgreSQLAddress: Equatable, Sendable, CustomStringConvertible {
    public var user: String?        // nil: libpq's default (PGUSER, else the login name)
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: String?     // ?sslmode=require etc., passed to libpq

    static let expected = "a URL like postgresql://user@host:5432/database"

    public init(url text: String) throws {
        guard var parts = URLComponents(string: text) else {
            throw AccountingError.ledger(path: Self.withoutPassword(text), problem: "not \(Self.expected)")
        }
        if parts.password != nil {
            parts.password = nil
            throw AccountingError.ledger(path: parts.string ?? Self.withoutPassword(text),
                                         problem: "the URL holds a password; leave it out and put it in PGPASSWORD or ~/.pgpass (host:port:database:user:password, mode 0600), which libpq reads, so that it never lands in a job file, a log or the ledger")
        }
        let shown = parts.string ?? text
        guard let host = parts.host, !host.isEmpty else { throw AccountingError.ledger(path: shown, problem: "no host: expected \(Self.expected)") }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw AccountingError.ledger(path: shown, problem: "no database name: expected \(Self.expected)")
        }
        var sslMode: String?
        for item in parts.queryItems ?? [] {
            guard item.name == "sslmode", let value = item.value, !value.isEmpty else {
                throw AccountingError.ledger(path: shown, problem: "unknown parameter '\(item.name)' (only sslmode is read)")
            }
            sslMode = value
        }
        self.user = parts.user.flatMap { $0.isEmpty ? nil : $0 }
        self.host = host
        self.port = parts.port ?? 5432
        self.database = database
        self.sslMode = sslMode
        guard (1...65535).contains(port) else { throw AccountingError.ledger(path: shown, problem: "port \(port) is not in 1-65535") }
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgresql://\(user.map { "\($0)@" } ?? "")\(h):\(port)/\(database)\(sslMode.map { "?sslmode=\($0)" } ?? "")"
    }

    /// libpq's connection keywords. No password: libpq finds it in PGPASSWORD or ~/.pgpass.
    func parameters(connectTimeout: TimeInterval) -> [(String, String)] {
        var p: [(String, String)] = [("host", host), ("port", String(port)), ("dbname", database),
                                     ("connect_timeout", String(max(2, Int(connectTimeout.rounded(.up))))),
                                     ("application_name", "atelier")]
        if let user { p.append(("user", user)) }
        if let sslMode { p.append(("sslmode", sslMode)) }
        return p
    }

    /// `text` with anything between "://" and "@" after a ":" cut out, for a URL too broken to parse.
    static func withoutPassword(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else { return text }
        let userInfo = text[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + String(text[at...])
    }
}

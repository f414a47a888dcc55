/// A failure libpq or the server reported: the SQLSTATE when the server sent one (e.g. 28P01 a
/// wrong password, 23505 a unique key, 57P01 the server shutting down), and its message. libpq
/// never repeats the password in a message, so these can be shown as they are.
public struct PostgreSQLError: Error, CustomStringConvertible, Equatable {
    public enum Stage: String, Sendable { case connect = "connecting", execute = "running a statement" }
    public let stage: Stage
    public let sqlState: String?
    public let message: String

    public init(stage: Stage, sqlState: String?, message: String) {
        (self.stage, self.sqlState, self.message) = (stage, sqlState, message)
    }

    public var description: String {
        "\(message)\(sqlState.map { " (SQLSTATE \($0))" } ?? "")"
    }

    /// The class of SQLSTATE 08 (connection exception), 57P0x (the server is shutting down or
    /// restarting), or no SQLSTATE at all (libpq lost the connection): worth retrying later.
    public var isConnectionLost: Bool {
        guard let s = sqlState else { return true }
        return s.hasPrefix("08") || s.hasPrefix("57P")
    }

    /// 28P01 and 28000: the server refused the user or its password.
    public var isAuthenticationFailure: Bool { sqlState == "28P01" || sqlState == "28000" || message.contains("password authentication failed") }
}

import CPostgreSQL

/// The rows of one statement, read out of libpq's result at once (which is then freed).
public struct PostgreSQLResult: Sendable {
    public let columns: [String]
    public let rows: [[PostgreSQLValue]]

    init(taking result: OpaquePointer) {
        defer { PQclear(result) }
        let fields = Int(PQnfields(result)), count = Int(PQntuples(result))
        columns = (0..<fields).map { String(cString: PQfname(result, Int32($0))) }
        let types = (0..<fields).map { PQftype(result, Int32($0)) }
        rows = (0..<count).map { r in
            (0..<fields).map { c in
                PQgetisnull(result, Int32(r), Int32(c)) == 1
                    ? .null : PostgreSQLValue(text: String(cString: PQgetvalue(result, Int32(r), Int32(c))), oid: types[c])
            }
        }
    }
}

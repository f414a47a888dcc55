/// One value of a result, typed by its column's type (the server sends text; the type OID says
/// how to read it).
public enum PostgreSQLValue: Sendable, Equatable {
    case null
    case integer(Int)
    case real(Double)
    case text(String)

    /// Type OIDs (pg_type.dat) of the columns read as numbers.
    static let bool: UInt32 = 16, int8: UInt32 = 20, int2: UInt32 = 21, int4: UInt32 = 23
    static let float4: UInt32 = 700, float8: UInt32 = 701, numeric: UInt32 = 1700, text: UInt32 = 25

    /// The value of `text` in a column of type `oid`. float8's text is exact: the server prints the
    /// shortest decimal that reads back to the same double (extra_float_digits 1, PostgreSQL 12+).
    init(text: String, oid: UInt32) {
        switch oid {
        case Self.int2, Self.int4, Self.int8: self = Int(text).map(PostgreSQLValue.integer) ?? .text(text)
        case Self.float4, Self.float8, Self.numeric: self = Double(text).map(PostgreSQLValue.real) ?? .text(text)
        case Self.bool: self = .integer(text == "t" ? 1 : 0)
        default: self = .text(text)
        }
    }

    /// The parameter's text and type OID (0: let the server infer it).
    var parameter: (text: String?, oid: UInt32) {
        switch self {
        case .null: return (nil, 0)
        case .integer(let v): return (String(v), Self.int8)
        // Swift's description is the shortest text that reads back to the same double.
        case .real(let v): return (v.description, Self.float8)
        case .text(let v): return (v, Self.text)
        }
    }
}

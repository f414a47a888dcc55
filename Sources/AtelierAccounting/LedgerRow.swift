/// One row a ledger query returned, read by column name as in GRDB (`try row["segments"] as Int`).
/// A column that is missing or holds another type is an error naming it, not a default.
public struct LedgerRow: Sendable, Equatable {
    public let columns: [String]
    public let values: [LedgerValue]

    public init(columns: [String], values: [LedgerValue]) { (self.columns, self.values) = (columns, values) }

    public subscript<T: LedgerValueConvertible>(_ column: String) -> T {
        get throws {
            guard let i = columns.firstIndex(of: column) else { throw Unreadable(column: column, value: nil, type: "\(T.self)") }
            return try self[i]
        }
    }

    public subscript<T: LedgerValueConvertible>(_ index: Int) -> T {
        get throws {
            guard values.indices.contains(index) else { throw Unreadable(column: "#\(index)", value: nil, type: "\(T.self)") }
            guard let value = T.from(ledgerValue: values[index]) else {
                throw Unreadable(column: columns.indices.contains(index) ? columns[index] : "#\(index)", value: values[index], type: "\(T.self)")
            }
            return value
        }
    }

    /// A column the query did not return, or whose value is not of the type asked for.
    public struct Unreadable: Error, CustomStringConvertible {
        public let column: String
        public let value: LedgerValue?
        public let type: String
        public var description: String {
            value.map { "column \(column) holds \($0), not a \(type)" } ?? "no column \(column) in the row"
        }
    }
}

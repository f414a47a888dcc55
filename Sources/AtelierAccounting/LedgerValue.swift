import Foundation

/// One value in a ledger row or statement, the same for both stores: SQLite's storage classes,
/// which PostgreSQL's column types map onto (integers, double precision, text).
public enum LedgerValue: Sendable, Equatable {
    case null
    case integer(Int)
    case real(Double)
    case text(String)
}

/// A Swift value that goes into and comes out of a ledger column (GRDB's DatabaseValueConvertible).
public protocol LedgerValueConvertible {
    var ledgerValue: LedgerValue { get }
    /// The value a column holds as this type; nil when it holds something else.
    static func from(ledgerValue: LedgerValue) -> Self?
}

/// Statement arguments, for `?` placeholders in order: `[id, segment, at]`.
public typealias LedgerArguments = [any LedgerValueConvertible]

extension LedgerValue: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { self }
    public static func from(ledgerValue: LedgerValue) -> LedgerValue? { ledgerValue }
}

extension Int: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { .integer(self) }
    public static func from(ledgerValue: LedgerValue) -> Int? {
        switch ledgerValue {
        case .integer(let v): return v
        case .real(let v): return v.rounded() == v && abs(v) < 9.2e18 ? Int(v) : nil   // SQLite may hand back 3.0 for 3
        default: return nil
        }
    }
}

extension Int64: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { .integer(Int(self)) }
    public static func from(ledgerValue: LedgerValue) -> Int64? { Int.from(ledgerValue: ledgerValue).map(Int64.init) }
}

extension Double: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { .real(self) }
    public static func from(ledgerValue: LedgerValue) -> Double? {
        switch ledgerValue {
        case .real(let v): return v
        case .integer(let v): return Double(v)   // SUM over no rows, COALESCE(..., 0)
        default: return nil
        }
    }
}

extension String: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { .text(self) }
    public static func from(ledgerValue: LedgerValue) -> String? {
        if case .text(let v) = ledgerValue { return v }
        return nil
    }
}

extension Bool: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { .integer(self ? 1 : 0) }
    public static func from(ledgerValue: LedgerValue) -> Bool? { Int.from(ledgerValue: ledgerValue).map { $0 != 0 } }
}

extension Optional: LedgerValueConvertible where Wrapped: LedgerValueConvertible {
    public var ledgerValue: LedgerValue { map(\.ledgerValue) ?? .null }
    public static func from(ledgerValue: LedgerValue) -> Wrapped?? {
        if case .null = ledgerValue { return .some(nil) }
        return Wrapped.from(ledgerValue: ledgerValue).map { .some($0) }
    }
}

/// Numbers a checkpoint carries for another stage, each under its name: the accounting totals
/// (`/state/accounting`, with their names in `/state/accounting_names`). The checkpoint stores
/// and returns them; it does not interpret them (AtelierAccounting's `AccountingTotals` does).
public struct NamedNumbers: Equatable, Sendable {
    public var names: [String]
    public var values: [Double]

    public init(names: [String] = [], values: [Double] = []) {
        precondition(names.count == values.count || names.isEmpty, "\(names.count) names for \(values.count) values")
        (self.names, self.values) = (names, values)
    }

    /// The value named `name`, if there is one.
    public subscript(name: String) -> Double? {
        names.firstIndex(of: name).map { values[$0] }
    }
}

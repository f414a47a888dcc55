/// Accounting errors, naming the file and what to do.
public enum AccountingError: Error, CustomStringConvertible, Equatable {
    case ledger(path: String, problem: String)
    case overBudget(group: String, used: Double, budget: Double, profile: String)
    case needsFigure(String)

    public var description: String {
        switch self {
        case .ledger(let path, let problem): return "ledger \(path): \(problem)"
        case .overBudget(let group, let used, let budget, let profile):
            return "working group '\(group)' has used \(String(format: "%.4g", used)) of its \(String(format: "%.4g", budget)) device-hours (\(profile)); train refuses to start: raise the budget in the profile, or pass --over-budget (it is recorded in the ledger)"
        case .needsFigure(let what): return what
        }
    }
}

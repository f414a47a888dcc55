/// What is wrong with a job file or an override, naming the file and field, what was expected and
/// what was found. Printed as is to the user; the CLI exits with code 2 and creates nothing.
public enum JobError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case syntax(file: String, line: Int, column: Int, message: String)
    case unknownKey(file: String, field: String, suggestion: String?, reference: String)
    case missing(file: String, field: String, expected: String)
    case wrongType(file: String, field: String, expected: String, found: String)
    case invalid(file: String, field: String, expected: String, found: String)
    case badOverride(assignment: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): cannot read the file: \(reason)"
        case .syntax(let file, let line, let column, let message):
            return "\(file):\(line):\(column): TOML syntax error: \(message)"
        case .unknownKey(let file, let field, let suggestion, let reference):
            let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
            return "\(file): unknown field '\(field)'\(hint); see \(reference) for the fields this file takes"
        case .missing(let file, let field, let expected):
            return "\(file): missing field '\(field)': expected \(expected)"
        case .wrongType(let file, let field, let expected, let found):
            return "\(file): field '\(field)': expected \(expected), found \(found)"
        case .invalid(let file, let field, let expected, let found):
            return "\(file): field '\(field)': expected \(expected), found \(found)"
        case .badOverride(let assignment, let reason):
            return "--set \(assignment): \(reason); write --set section.field=value, for example --set train.iterations=100"
        }
    }
}

import TOMLKit

/// A job file's contents as a plain tree, independent of the TOML library, so overrides and
/// validation work on one simple type.
public indirect enum JobValue: Equatable, Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([JobValue])
    case table([String: JobValue])

    /// The word a user would use for this value's type, for error messages.
    public var typeName: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        }
    }

    /// TOML text for this value (used to store the resolved job canonically).
    public var tomlLiteral: String {
        switch self {
        case .string(let s):
            var out = "\""
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default:
                    if ch.value < 0x20 { out += String(format: "\\u%04X", ch.value) } else { out.unicodeScalars.append(ch) }
                }
            }
            return out + "\""
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "nan" }
            if d.isInfinite { return d > 0 ? "inf" : "-inf" }
            let s = "\(d)"
            return s.contains(".") || s.contains("e") ? s : s + ".0"
        case .bool(let b): return b ? "true" : "false"
        case .array(let items): return "[" + items.map(\.tomlLiteral).joined(separator: ", ") + "]"
        case .table(let t):
            return "{ " + t.keys.sorted().map { "\($0) = \(t[$0]!.tomlLiteral)" }.joined(separator: ", ") + " }"
        }
    }
}

extension JobValue {
    init(toml value: TOMLValueConvertible, path: String, file: String) throws {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .int(value.int ?? 0)
        case .double: self = .double(value.double ?? 0)
        case .bool: self = .bool(value.bool ?? false)
        case .array:
            let array = value.array!
            self = .array(try (0..<array.count).map { try JobValue(toml: array[$0], path: "\(path)[\($0)]", file: file) })
        case .table:
            let table = value.table!
            var out: [String: JobValue] = [:]
            for key in table.keys {
                let sub = path.isEmpty ? key : "\(path).\(key)"
                out[key] = try JobValue(toml: table[key]!, path: sub, file: file)
            }
            self = .table(out)
        default:
            throw JobError.wrongType(file: file, field: path, expected: "a string, number, boolean, array or table",
                                     found: "a TOML \(value.type)")
        }
    }

    /// Parses TOML text into a table.
    public static func parse(toml text: String, file: String) throws -> JobValue {
        if let problem = TOMLInputCheck.firstUnparsablePlace(text) {
            throw JobError.syntax(file: file, line: problem.line, column: problem.column, message: problem.message)
        }
        let table: TOMLTable
        do {
            table = try TOMLAssertionGuard.parsing(file) { try TOMLTable(string: text) }
        } catch let error as TOMLParseError {
            throw JobError.syntax(file: file, line: error.source.begin.line, column: error.source.begin.column,
                                  message: error.description)
        }
        return try JobValue(toml: table, path: "", file: file)
    }

    /// The value at a dotted path, if any.
    public subscript(path path: String) -> JobValue? {
        var node: JobValue? = self
        for part in path.split(separator: ".") {
            guard case .table(let t)? = node else { return nil }
            node = t[String(part)]
        }
        return node
    }

    /// Sets the value at a dotted path, creating intermediate tables.
    public mutating func set(path: [String], to value: JobValue) throws {
        guard let head = path.first else { self = value; return }
        guard case .table(var t) = self else {
            throw JobError.badOverride(assignment: path.joined(separator: "."), reason: "its parent is not a table")
        }
        var child = t[head] ?? .table([:])
        try child.set(path: Array(path.dropFirst()), to: value)
        t[head] = child
        self = .table(t)
    }

    /// Canonical TOML for a table: scalars first, then sub-tables, keys sorted. Two jobs that mean
    /// the same thing give the same text (and hash).
    public func canonicalTOML(prefix: String = "") -> String {
        guard case .table(let t) = self else { return tomlLiteral }
        var lines: [String] = []
        for key in t.keys.sorted() where !t[key]!.isTable { lines.append("\(key) = \(t[key]!.tomlLiteral)") }
        for key in t.keys.sorted() where t[key]!.isTable {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            lines.append("")
            lines.append("[\(name)]")
            lines.append(t[key]!.canonicalTOML(prefix: name))
        }
        return lines.joined(separator: "\n").replacingOccurrences(of: "\n\n\n", with: "\n\n")
    }

    var isTable: Bool { if case .table = self { return true } else { return false } }
}

/// Reads typed fields out of a job tree by dotted path, remembering which ones it read, so that
/// whatever is left over is reported as an unknown key.
public struct FieldReader {
    public let root: JobValue
    public let file: String
    /// The document that lists the fields this kind of file takes, cited for an unknown key.
    public let reference: String
    private(set) var known: Set<String> = []

    public init(root: JobValue, file: String, reference: String = "docs/job-files.md") {
        self.root = root
        self.file = file
        self.reference = reference
    }

    private mutating func value(_ path: String) -> JobValue? {
        known.insert(path)
        return root[path: path]
    }

    public mutating func string(_ path: String, default fallback: String? = nil) throws -> String {
        switch value(path) {
        case .string(let s)?: return s
        case nil:
            if let fallback { return fallback }
            throw JobError.missing(file: file, field: path, expected: "a string")
        case let other?: throw JobError.wrongType(file: file, field: path, expected: "a string", found: describe(other))
        }
    }

    public mutating func optionalString(_ path: String) throws -> String? {
        if root[path: path] == nil { known.insert(path); return nil }
        return try string(path)
    }

    public mutating func int(_ path: String, default fallback: Int? = nil, min lower: Int? = nil, max upper: Int? = nil) throws -> Int {
        let result: Int
        switch value(path) {
        case .int(let i)?: result = i
        case nil:
            guard let fallback else { throw JobError.missing(file: file, field: path, expected: "an integer") }
            return fallback
        case let other?: throw JobError.wrongType(file: file, field: path, expected: "an integer", found: describe(other))
        }
        if let lower, result < lower {
            throw JobError.invalid(file: file, field: path, expected: "an integer >= \(lower)", found: "\(result)")
        }
        if let upper, result > upper {
            throw JobError.invalid(file: file, field: path, expected: "an integer <= \(upper)", found: "\(result)")
        }
        return result
    }

    public mutating func optionalInt(_ path: String, min lower: Int? = nil, max upper: Int? = nil) throws -> Int? {
        if root[path: path] == nil { known.insert(path); return nil }
        return try int(path, min: lower, max: upper)
    }

    public mutating func double(_ path: String, default fallback: Double? = nil, above lower: Double? = nil,
                         atLeast floor: Double? = nil, below upper: Double? = nil, atMost ceiling: Double? = nil) throws -> Double {
        let result: Double
        switch value(path) {
        case .double(let d)?: result = d
        case .int(let i)?: result = Double(i)
        case nil:
            guard let fallback else { throw JobError.missing(file: file, field: path, expected: "a number") }
            return fallback
        case let other?: throw JobError.wrongType(file: file, field: path, expected: "a number", found: describe(other))
        }
        guard result.isFinite else {
            throw JobError.invalid(file: file, field: path, expected: "a finite number", found: "\(result)")
        }
        if let lower, !(result > lower) {
            throw JobError.invalid(file: file, field: path, expected: "a number > \(lower)", found: "\(result)")
        }
        if let floor, result < floor {
            throw JobError.invalid(file: file, field: path, expected: "a number >= \(floor)", found: "\(result)")
        }
        if let upper, !(result < upper) {
            throw JobError.invalid(file: file, field: path, expected: "a number < \(upper)", found: "\(result)")
        }
        if let ceiling, result > ceiling {
            throw JobError.invalid(file: file, field: path, expected: "a number <= \(ceiling)", found: "\(result)")
        }
        return result
    }

    public mutating func optionalDouble(_ path: String, above lower: Double? = nil, atMost ceiling: Double? = nil) throws -> Double? {
        if root[path: path] == nil { known.insert(path); return nil }
        return try double(path, above: lower, atMost: ceiling)
    }

    public mutating func stringArray(_ path: String) throws -> [String] {
        switch value(path) {
        case .array(let items)?:
            return try items.enumerated().map { index, item in
                guard case .string(let s) = item else {
                    throw JobError.wrongType(file: file, field: "\(path)[\(index)]", expected: "a string", found: describe(item))
                }
                return s
            }
        case nil: throw JobError.missing(file: file, field: path, expected: "an array of strings")
        case let other?: throw JobError.wrongType(file: file, field: path, expected: "an array of strings", found: describe(other))
        }
    }

    public mutating func bool(_ path: String, default fallback: Bool) throws -> Bool {
        switch value(path) {
        case .bool(let b)?: return b
        case nil: return fallback
        case let other?: throw JobError.wrongType(file: file, field: path, expected: "true or false", found: describe(other))
        }
    }

    /// The keys of the table at `path` (sorted; empty when there is none). The fields under them
    /// are read one by one as usual.
    public mutating func tableKeys(_ path: String) throws -> [String] {
        known.insert(path)
        switch root[path: path] {
        case nil: return []
        case .table(let t)?: return t.keys.sorted()
        case let other?: throw JobError.wrongType(file: file, field: path, expected: "a table", found: describe(other))
        }
    }

    /// True when the job itself (file or --set) gives this field.
    public func wasSet(_ path: String) -> Bool { root[path: path] != nil }

    /// Throws for the first key in the tree that no read asked for (sorted, so the error is stable).
    public func rejectUnknownKeys() throws {
        for path in leafPaths(root, prefix: "").sorted() where !known.contains(path) {
            let sections = Set(known.map { $0.split(separator: ".").dropLast().joined(separator: ".") })
            // A whole unknown section is reported by its own name.
            let parent = path.split(separator: ".").dropLast().joined(separator: ".")
            let reported = (parent.isEmpty || sections.contains(parent)) ? path : firstUnknownSection(path, sections)
            throw JobError.unknownKey(file: file, field: reported, suggestion: closest(to: reported, among: known.union(sections)), reference: reference)
        }
    }

    private func firstUnknownSection(_ path: String, _ sections: Set<String>) -> String {
        let parts = path.split(separator: ".").map(String.init)
        for i in 1...parts.count {
            let prefix = parts[0..<i].joined(separator: ".")
            if !sections.contains(prefix) { return prefix }
        }
        return path
    }

    private func leafPaths(_ value: JobValue, prefix: String) -> [String] {
        guard case .table(let t) = value else { return [prefix] }
        if t.isEmpty && !prefix.isEmpty { return [prefix] }
        return t.flatMap { key, child in leafPaths(child, prefix: prefix.isEmpty ? key : "\(prefix).\(key)") }
    }

    private func describe(_ value: JobValue) -> String {
        switch value {
        case .string(let s): return "the string \"\(s)\""
        case .int(let i): return "the integer \(i)"
        case .double(let d): return "the number \(d)"
        case .bool(let b): return "the boolean \(b)"
        default: return value.typeName
        }
    }
}

/// The known name nearest to `name` by edit distance, if it is close enough to be a likely typo.
func closest(to name: String, among candidates: Set<String>) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var previous = row[0]
            row[0] = i + 1
            for (j, cb) in b.enumerated() {
                let current = row[j + 1]
                row[j + 1] = Swift.min(row[j + 1] + 1, row[j] + 1, previous + (ca == cb ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    let target = Array(name)
    let scored = candidates.filter { !$0.isEmpty }.map { ($0, distance(target, Array($0))) }
    guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }) else { return nil }
    return best.1 <= Swift.max(2, name.count / 3) ? best.0 : nil
}

import Foundation

/// A lineage as JSON: the text a checkpoint carries (`/state/lineage`) and the file an export
/// carries beside config.json (`atelier-lineage.json`). Decoding checks what a hostile or damaged
/// file could hold: its size, its nesting, names, and every figure finite and non-negative.
public enum LineageFile {
    public static let name = "atelier-lineage.json"
    static let maxBytes = 4 << 20          // 4 MiB: thousands of ancestors
    static let maxDepth = 64               // generations

    /// The path of a model directory's lineage file.
    public static func path(in directory: String) -> String { directory + "/" + name }

    public static func encode(_ lineage: Lineage) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Only finite numbers reach here (checked where they come in), so encoding cannot fail.
        return ((try? encoder.encode(lineage)) ?? Data()) + Data("\n".utf8)
    }

    /// Decodes and checks `data`; `origin` names where it came from in errors.
    public static func decode(_ data: Data, origin: String) throws -> Lineage {
        guard data.count <= maxBytes else { throw LineageError(origin: origin, problem: "\(data.count) bytes, more than \(maxBytes) for a lineage") }
        var depth = 0, deepest = 0
        for byte in data {   // nesting, before a recursive decoder sees it ('[' and '{' inside strings only overcount)
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1; deepest = max(deepest, depth) }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
        }
        guard deepest <= 3 * maxDepth + 2 else { throw LineageError(origin: origin, problem: "nested deeper than \(maxDepth) generations") }
        let lineage: Lineage
        do {
            lineage = try JSONDecoder().decode(Lineage.self, from: data)
        } catch let error as DecodingError {
            throw LineageError(origin: origin, problem: "not a lineage: \(describe(error))")
        }
        try check(lineage, origin: origin, at: "model")
        return lineage
    }

    static func check(_ node: Lineage, origin: String, at path: String) throws {
        guard !node.name.isEmpty else { throw LineageError(origin: origin, problem: "\(path): empty name") }
        for field in node.footprint?.fields ?? [] {
            if let value = field.value, !(value.isFinite && value >= 0 && value < 0x1p53) {
                throw LineageError(origin: origin, problem: "\(path) '\(node.name)': \(field.name) is \(value), not a finite non-negative number")
            }
        }
        for share in node.mixture ?? [] where !(share.share.isFinite && (0...1).contains(share.share)) || share.name.isEmpty {
            throw LineageError(origin: origin, problem: "\(path) '\(node.name)': mixture share \(share.share) of '\(share.name)' is not in [0, 1]")
        }
        for (i, ancestor) in node.ancestors.enumerated() { try check(ancestor, origin: origin, at: "\(path).ancestors[\(i)]") }
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "" : " at \(path)"
        }
        switch error {
        case .keyNotFound(let key, let c): return "no '\(key.stringValue)'\(at(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type\(at(c)): \(c.debugDescription)"
        case .dataCorrupted(let c): return "\(c.debugDescription)\(at(c))"
        @unknown default: return "\(error)"
        }
    }

    /// The lineage file of a model directory; nil when it has none (a model from elsewhere).
    public static func read(directory: String) throws -> Lineage? {
        let file = path(in: directory)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let data = FileManager.default.contents(atPath: file) else { throw LineageError(origin: file, problem: "cannot be read") }
        return try decode(data, origin: file)
    }

    /// Writes a model directory's lineage file atomically (a temporary file renamed into place):
    /// a reader sees the old file or the new one, never half of one.
    public static func write(_ lineage: Lineage, directory: String) throws {
        do {
            try encode(lineage).write(to: URL(fileURLWithPath: path(in: directory)), options: .atomic)
        } catch {
            throw LineageError(origin: path(in: directory), problem: "cannot be written: \((error as NSError).localizedDescription)",
                               isBadInput: false)
        }
    }
}

/// A lineage that cannot be read or written, naming the file (or checkpoint dataset).
public struct LineageError: Error, CustomStringConvertible {
    public let origin: String
    public let problem: String
    /// False for a failure to write (a full disk), which is not the input's fault.
    public let isBadInput: Bool
    public init(origin: String, problem: String, isBadInput: Bool = true) {
        (self.origin, self.problem, self.isBadInput) = (origin, problem, isBadInput)
    }
    public var description: String { "\(origin): \(problem)" }
}

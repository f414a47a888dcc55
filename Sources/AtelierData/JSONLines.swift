import Foundation

/// Documents from a JSON-lines file: one object per line with a string "text" and an optional
/// string "lang". Bad lines (not JSON, no text, invalid UTF-8) are reported with file and line
/// number, counted and skipped; blank lines are skipped and not counted.
public struct JSONLinesReader {
    public struct Document: Sendable { public let text: String; public let language: String?; public let line: Int }
    public struct BadLine: Sendable, CustomStringConvertible {
        public let file: String, line: Int, problem: String
        public init(file: String, line: Int, problem: String) { (self.file, self.line, self.problem) = (file, line, problem) }
        public var description: String { "\(file):\(line): \(problem)" }
    }

    /// What one line holds.
    public enum Line: Sendable {
        case document(Document)
        case bad(BadLine)
        case blank
    }

    /// Line number `number` of `file`, its bytes without the newline.
    public static func parse(_ bytes: UnsafeRawBufferPointer, number: Int, file: String) -> Line {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return .blank }
        let slice = Data(bytes)
        guard String(data: slice, encoding: .utf8) != nil else {
            return .bad(BadLine(file: file, line: number, problem: "invalid UTF-8"))
        }
        guard let object = try? JSONSerialization.jsonObject(with: slice) as? [String: Any] else {
            return .bad(BadLine(file: file, line: number, problem: "not a JSON object"))
        }
        guard let text = object["text"] as? String else {
            return .bad(BadLine(file: file, line: number, problem: "no string field \"text\""))
        }
        return .document(Document(text: text, language: object["lang"] as? String, line: number))
    }

    /// The whole file's documents and bad lines (tokenizer training needs every text at once;
    /// `atelier preprocess` streams with `LineReader` and `parse` instead).
    public static func read(path: String) throws -> (documents: [Document], bad: [BadLine]) {
        var documents: [Document] = []
        var bad: [BadLine] = []
        var number = 0
        try LineReader(path: path).forEachLine { bytes, _ in
            number += 1
            switch parse(bytes, number: number, file: path) {
            case .document(let d): documents.append(d)
            case .bad(let b): bad.append(b)
            case .blank: break
            }
        }
        return (documents, bad)
    }
}

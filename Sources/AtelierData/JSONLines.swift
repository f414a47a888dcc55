import Foundation

/// Documents from a JSON-lines file: one object per line with a string "text" and an optional
/// string "lang". Bad lines (not JSON, no text, invalid UTF-8) are reported with file and line
/// number, counted and skipped.
public struct JSONLinesReader {
    public struct Document: Sendable { public let text: String; public let language: String?; public let line: Int }
    public struct BadLine: Sendable, CustomStringConvertible {
        public let file: String, line: Int, problem: String
        public var description: String { "\(file):\(line): \(problem)" }
    }

    public static func read(path: String) throws -> (documents: [Document], bad: [BadLine]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
        }
        var documents: [Document] = []
        var bad: [BadLine] = []
        var line = 0
        data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
                line += 1
                defer { start = end + 1 }
                let slice = Data(bytes[start..<end])
                if slice.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
                guard String(data: slice, encoding: .utf8) != nil else {
                    bad.append(BadLine(file: path, line: line, problem: "invalid UTF-8")); continue
                }
                guard let object = try? JSONSerialization.jsonObject(with: slice) as? [String: Any] else {
                    bad.append(BadLine(file: path, line: line, problem: "not a JSON object")); continue
                }
                guard let text = object["text"] as? String else {
                    bad.append(BadLine(file: path, line: line, problem: "no string field \"text\"")); continue
                }
                documents.append(Document(text: text, language: object["lang"] as? String, line: line))
            }
        }
        return (documents, bad)
    }
}

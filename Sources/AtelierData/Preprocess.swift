import AtelierTokenizer
import Foundation

/// `atelier preprocess`: JSON lines to Megatron indexed datasets. Under MPI, rank r of N tokenizes
/// the r-th contiguous block of documents and writes it as a part file; rank 0 joins the parts in
/// order into the final files (written under temporary names, then renamed).
public struct Preprocess {
    public struct Options: Sendable {
        public var input: String
        public var tokenizer: String
        public var outputPrefix: String
        public var byLanguage: Bool
        public var maxBadFraction: Double
        public init(input: String, tokenizer: String, outputPrefix: String, byLanguage: Bool, maxBadFraction: Double) {
            (self.input, self.tokenizer, self.outputPrefix, self.byLanguage, self.maxBadFraction) = (input, tokenizer, outputPrefix, byLanguage, maxBadFraction)
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case tooManyBadLines(file: String, bad: Int, total: Int, examples: [String], limit: Double)
        case noEndOfDocument(tokenizer: String)
        public var description: String {
            switch self {
            case .tooManyBadLines(let file, let bad, let total, let examples, let limit):
                return "\(file): \(bad) of \(total) lines are bad (more than \(String(format: "%.1f", 100 * limit))%); nothing written. First ones:\n  " + examples.joined(separator: "\n  ")
            case .noEndOfDocument(let t): return "\(t): the tokenizer has no </s> token to end documents with"
            }
        }
    }

    /// The documents this rank tokenizes, and the ids of each (with </s> appended).
    public static func tokenize(_ documents: [JSONLinesReader.Document], tokenizer: BPETokenizer, eod: Int32,
                                progress: ((Int) -> Void)? = nil) throws -> [[Int32]] {
        var out: [[Int32]] = []
        out.reserveCapacity(documents.count)
        for (i, d) in documents.enumerated() {
            out.append(tokenizer.encode(d.text) + [eod])
            if i % 64 == 0 { progress?(i) }
        }
        progress?(documents.count)
        return out
    }

    /// The output prefix of a language (or of everything).
    public static func prefix(_ base: String, language: String?) -> String {
        language.map { "\(base)_\($0)_text_document" } ?? "\(base)_text_document"
    }

    /// Writes one part (this rank's documents): lengths and languages as a JSON header line, then
    /// the tokens as int32.
    public static func writePart(_ path: String, documents: [[Int32]], languages: [String?]) throws {
        var data = try JSONSerialization.data(withJSONObject: ["lengths": documents.map(\.count), "languages": languages.map { $0 ?? "" }])
        data.append(0x0A)
        for doc in documents { doc.withUnsafeBytes { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }

    public static func readPart(_ path: String) throws -> (documents: [[Int32]], languages: [String]) {
        guard let data = FileManager.default.contents(atPath: path), let newline = data.firstIndex(of: 0x0A),
              let header = try? JSONSerialization.jsonObject(with: data[..<newline]) as? [String: Any],
              let lengths = header["lengths"] as? [Int], let languages = header["languages"] as? [String] else {
            throw DataError.unreadable(path: path, reason: "a preprocessing part is damaged")
        }
        var documents: [[Int32]] = []
        var at = newline + 1
        for n in lengths {
            guard at + 4 * n <= data.endIndex else { throw DataError.unreadable(path: path, reason: "a preprocessing part is truncated") }
            documents.append(data[at..<(at + 4 * n)].withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) })
            at += 4 * n
        }
        return (documents, languages)
    }

    /// Rank 0: joins the parts in rank order and writes the datasets; returns (prefix, documents,
    /// tokens) per output.
    public static func join(parts: [String], options: Options, type: IndexedDataset.TokenType) throws -> [(String, Int, Int)] {
        var groups: [String: [[Int32]]] = [:]
        var order: [String] = []
        for part in parts {
            let (documents, languages) = try readPart(part)
            for (doc, language) in zip(documents, languages) {
                let key = options.byLanguage ? (language.isEmpty ? "unknown" : language) : ""
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(doc)
            }
        }
        var written: [(String, Int, Int)] = []
        for key in order.sorted() {
            let prefix = Self.prefix(options.outputPrefix, language: options.byLanguage ? key : nil)
            let docs = groups[key]!
            try IndexedDataset.write(prefix: prefix, documents: docs, type: type)
            written.append((prefix, docs.count, docs.reduce(0) { $0 + $1.count }))
        }
        return written
    }
}

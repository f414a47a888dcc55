import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One rank's share of `atelier preprocess`, written as it is tokenized, in three files:
/// - BASE.tokens.tmp: the tokens of its documents back to back, already in the output dtype (so
///   joining is a byte copy);
/// - BASE.documents.tmp: per document, its length in tokens and its language's number (int32
///   each, little-endian): 8 bytes a document;
/// - BASE.languages.tmp: the language names as a JSON array, numbered by first appearance
///   ("" for documents without "lang").
public enum PreprocessPart {
    public static func files(_ base: String) -> (tokens: String, documents: String, languages: String) {
        (base + ".tokens.tmp", base + ".documents.tmp", base + ".languages.tmp")
    }

    public static func remove(_ base: String) {
        let f = files(base)
        for path in [f.tokens, f.documents, f.languages] { unlink(path) }
    }

    /// Appends documents to a part.
    final class Writer {
        let base: String
        let type: IndexedDataset.TokenType
        private let tokens: FileWriter, documents: FileWriter
        private var languages: [String] = []
        private var languageNumbers: [String: Int32] = [:]
        private var scratch: [UInt8] = []

        init(base: String, type: IndexedDataset.TokenType, bufferSize: Int) throws {
            self.base = base
            self.type = type
            tokens = try FileWriter(path: files(base).tokens, bufferSize: bufferSize)
            documents = try FileWriter(path: files(base).documents, bufferSize: bufferSize)
        }

        func append(_ ids: [Int32], language: String?) throws {
            guard ids.count <= Int(Int32.max) else {
                throw DataError.unreadable(path: base, reason: "a document of \(ids.count) tokens; the index holds at most 2^31 - 1 per document")
            }
            let name = language ?? ""
            let number: Int32
            if let known = languageNumbers[name] { number = known } else {
                number = Int32(languages.count)
                languageNumbers[name] = number
                languages.append(name)
            }
            scratch.removeAll(keepingCapacity: true)
            for id in ids {
                switch type {
                case .uint16: withUnsafeBytes(of: UInt16(truncatingIfNeeded: id).littleEndian) { scratch += $0 }
                case .int32: withUnsafeBytes(of: id.littleEndian) { scratch += $0 }
                }
            }
            try scratch.withUnsafeBytes { try tokens.write($0) }
            try documents.write(littleEndian: Int32(ids.count))
            try documents.write(littleEndian: number)
        }

        func close() throws {
            try tokens.close()
            try documents.close()
            let json = try JSONSerialization.data(withJSONObject: languages)
            let out = try FileWriter(path: files(base).languages)
            try json.withUnsafeBytes { try out.write($0) }
            try out.close()
        }
    }

    /// A finished part, read back by rank 0: its languages, and its documents streamed.
    struct Reader {
        let base: String
        let languages: [String]

        init(base: String) throws {
            self.base = base
            let path = files(base).languages
            guard let data = FileManager.default.contents(atPath: path),
                  let names = try? JSONSerialization.jsonObject(with: data) as? [String] else {
                throw DataError.unreadable(path: path, reason: "a preprocessing part is damaged")
            }
            languages = names
        }

        /// Calls `body` with each document's length in tokens, language number and first token's
        /// position in the part's tokens file, in order.
        func forEachDocument(bufferSize: Int, _ body: (_ length: Int, _ language: Int, _ start: Int) throws -> Void) throws {
            let path = files(base).documents
            var start = 0
            var leftover: [UInt8] = []
            try LineReader(path: path, bufferSize: bufferSize).forEachChunk { chunk in
                leftover += chunk
                let records = leftover.count / 8
                try leftover.withUnsafeBytes { raw in
                    for r in 0..<records {
                        let length = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * r, as: Int32.self)))
                        let language = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * r + 4, as: Int32.self)))
                        guard length >= 0, languages.indices.contains(language) else {
                            throw DataError.unreadable(path: path, reason: "a preprocessing part is damaged")
                        }
                        try body(length, language, start)
                        start += length
                    }
                }
                leftover.removeFirst(records * 8)
            }
            guard leftover.isEmpty else { throw DataError.unreadable(path: path, reason: "a preprocessing part is truncated") }
        }
    }
}

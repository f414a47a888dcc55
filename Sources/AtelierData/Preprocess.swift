import AtelierTokenizer
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `atelier preprocess`: JSON lines to Megatron indexed datasets, in bounded memory. Under MPI,
/// rank r of N reads its own byte range of the input (from the first line starting at or after
/// r * size / N), tokenizes it line by line and appends each document to its part files as it
/// goes; rank 0 then joins the parts in rank order into the final files by streaming copy
/// (written under temporary names, renamed at the end). No rank ever holds more than its
/// buffers, one document and 4 bytes per output document (the .idx's lengths).
public struct Preprocess {
    public struct Options: Sendable {
        public var input: String
        public var tokenizer: String
        public var outputPrefix: String
        public var byLanguage: Bool
        public var maxBadFraction: Double
        public var bufferSize: Int        // bytes of every read, write and copy buffer (tests make it tiny)
        public init(input: String, tokenizer: String, outputPrefix: String, byLanguage: Bool, maxBadFraction: Double,
                    bufferSize: Int = 1 << 20) {
            (self.input, self.tokenizer, self.outputPrefix, self.byLanguage, self.maxBadFraction) = (input, tokenizer, outputPrefix, byLanguage, maxBadFraction)
            self.bufferSize = bufferSize
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case tooManyBadLines(file: String, bad: Int, total: Int, limit: Double)
        case noEndOfDocument(tokenizer: String)
        public var description: String {
            switch self {
            case .tooManyBadLines(let file, let bad, let total, let limit):
                return "\(file): \(bad) of \(total) lines are bad (more than \(String(format: "%.1f", 100 * limit))%); nothing written (the first bad lines are listed above)"
            case .noEndOfDocument(let t): return "\(t): the tokenizer has no </s> token to end documents with"
            }
        }
    }

    /// What one rank's range held.
    public struct PartSummary: Sendable {
        public var lines = 0          // every line of the range, blank ones included
        public var documents = 0
        public var bad = 0
        public var tokens = 0
        public var textBytes = 0      // UTF-8 bytes of the documents' texts
        public var firstBad: [JSONLinesReader.BadLine] = []   // the first `keepBad`, numbered from the range's first line
        public init() {}

        /// The counts to share with the other ranks: lines, bad, documents, tokens, text bytes.
        public var counts: [UInt64] { [lines, bad, documents, tokens, textBytes].map { UInt64($0) } }
    }

    /// Rank `rank` of `ranks`'s share of the input: whole lines, from the first line starting at
    /// or after rank * size / ranks up to the next rank's start.
    public static func byteRange(rank: Int, of ranks: Int, path: String) throws -> Range<Int> {
        let size = try LineReader.fileSize(path)
        let start = try LineReader.lineStart(atOrAfter: size * rank / ranks, path: path)
        let end = try LineReader.lineStart(atOrAfter: size * (rank + 1) / ranks, path: path)
        return start..<max(start, end)
    }

    /// Tokenizes the lines of `range` of the input (each document with </s> appended) into part
    /// `part`, one document at a time. `progress` gets the bytes of the range done so far.
    public static func tokenize(_ range: Range<Int>, options: Options, tokenizer: BPETokenizer, eod: Int32,
                                type: IndexedDataset.TokenType, part: String, keepBad: Int = 20,
                                progress: ((Int) -> Void)? = nil) throws -> PartSummary {
        let writer = try PreprocessPart.Writer(base: part, type: type, bufferSize: options.bufferSize)
        var s = PartSummary()
        try LineReader(path: options.input, range: range, bufferSize: options.bufferSize).forEachLine { bytes, end in
            s.lines += 1
            switch JSONLinesReader.parse(bytes, number: s.lines, file: options.input) {
            case .blank: break
            case .bad(let line):
                s.bad += 1
                if s.firstBad.count < keepBad { s.firstBad.append(line) }
            case .document(let d):
                let ids = tokenizer.encode(d.text) + [eod]
                try writer.append(ids, language: d.language)
                s.documents += 1
                s.tokens += ids.count
                s.textBytes += d.text.utf8.count
            }
            if s.lines % 64 == 0 { progress?(end - range.lowerBound) }
        }
        try writer.close()
        progress?(range.count)
        return s
    }

    /// The output prefix of a language (or of everything).
    public static func prefix(_ base: String, language: String?) -> String {
        language.map { "\(base)_\($0)_text_document" } ?? "\(base)_text_document"
    }

    /// Rank 0: joins the parts in rank order into one dataset per output (per language with
    /// --by-language, "unknown" for documents without one), copying token bytes straight from the
    /// parts; every output is written under a temporary name and renamed once all are complete.
    /// Returns (prefix, documents, tokens) per output.
    public static func join(parts: [String], options: Options, type: IndexedDataset.TokenType) throws -> [(String, Int, Int)] {
        let readers = try parts.map { try PreprocessPart.Reader(base: $0) }
        func key(_ language: String) -> String { options.byLanguage ? (language.isEmpty ? "unknown" : language) : "" }
        // a part lists a language only once a document has it, so every key has documents
        let keys = Set(readers.flatMap { $0.languages.map(key) }).sorted()
        var temporary: [String] = []
        do {
            var written: [(String, Int, Int)] = []
            for k in keys {
                let prefix = Self.prefix(options.outputPrefix, language: options.byLanguage ? k : nil)
                temporary += [prefix + ".bin.tmp", prefix + ".idx.tmp"]
                let bin = try FileWriter(path: prefix + ".bin.tmp", bufferSize: options.bufferSize)
                var lengths: [Int32] = []   // 4 bytes per document of this output
                for reader in readers {
                    let wanted = reader.languages.map { key($0) == k }
                    let copier = try TokenCopier(path: PreprocessPart.files(reader.base).tokens, type: type, into: bin,
                                                 bufferSize: options.bufferSize)
                    try reader.forEachDocument(bufferSize: options.bufferSize) { length, language, start in
                        guard wanted[language] else { return }
                        lengths.append(Int32(length))
                        try copier.copy(start..<(start + length))
                    }
                    try copier.finish()
                }
                try bin.close()
                let idx = try FileWriter(path: prefix + ".idx.tmp", bufferSize: options.bufferSize)
                try IndexedDataset.emitIndex(lengths: lengths, type: type) { try idx.write($0) }
                try idx.close()
                written.append((prefix, lengths.count, bin.bytesWritten / type.size))
            }
            for path in temporary where rename(path, String(path.dropLast(4))) != 0 {
                throw DataError.unwritable(path: String(path.dropLast(4)), reason: "cannot be put in place: \(String(cString: strerror(errno)))")
            }
            return written
        } catch {
            for path in temporary { unlink(path) }
            throw error
        }
    }
}

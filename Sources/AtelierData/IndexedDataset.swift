import Foundation

/// Megatron-LM's indexed dataset ("MMIDIDX", version 1): `PREFIX.bin` holds the tokens of every
/// sequence back to back; `PREFIX.idx` holds a header (9-byte magic, version u64 = 1, dtype code
/// u8, sequence count u64, document count u64), then sizes (int32 per sequence), pointers (int64
/// byte offset per sequence) and the document index (int64, sequence number where each document
/// starts, N + 1 entries). Here one document is one sequence, ending with the end-of-document token.
/// Tokens are uint16 (code 8) when the vocabulary is under 65,500, int32 (code 4) otherwise.
public enum IndexedDataset {
    public static let magic: [UInt8] = Array("MMIDIDX".utf8) + [0, 0]

    public enum TokenType: UInt8, Sendable {
        case uint16 = 8, int32 = 4
        public var size: Int { self == .uint16 ? 2 : 4 }
        public static func forVocabulary(_ size: Int) -> TokenType { size < 65_500 ? .uint16 : .int32 }
    }

    /// The .idx bytes for documents of `lengths` tokens.
    public static func indexBytes(lengths: [Int], type: TokenType) -> Data {
        var d = Data(magic)
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        u64(1)
        d.append(type.rawValue)
        u64(UInt64(lengths.count))
        u64(UInt64(lengths.count + 1))
        for n in lengths { withUnsafeBytes(of: Int32(n).littleEndian) { d.append(contentsOf: $0) } }
        var offset: Int64 = 0
        for n in lengths { i64(offset); offset += Int64(n * type.size) }
        for i in 0...lengths.count { i64(Int64(i)) }
        return d
    }

    /// Token bytes of one document.
    public static func tokenBytes(_ ids: [Int32], type: TokenType) -> Data {
        var d = Data(capacity: ids.count * type.size)
        for id in ids {
            switch type {
            case .uint16: withUnsafeBytes(of: UInt16(truncatingIfNeeded: id).littleEndian) { d.append(contentsOf: $0) }
            case .int32: withUnsafeBytes(of: id.littleEndian) { d.append(contentsOf: $0) }
            }
        }
        return d
    }

    /// Writes PREFIX.bin and PREFIX.idx atomically (temporary names, then renamed).
    public static func write(prefix: String, documents: [[Int32]], type: TokenType) throws {
        var bin = Data()
        for doc in documents { bin += tokenBytes(doc, type: type) }
        try writeAtomically(bin, to: prefix + ".bin")
        try writeAtomically(indexBytes(lengths: documents.map(\.count), type: type), to: prefix + ".idx")
    }

    /// Foundation's atomic write: a temporary file in the same directory, renamed into place.
    static func writeAtomically(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw DataError.unreadable(path: path, reason: "cannot be written: \((error as NSError).localizedDescription)")
        }
    }
}

/// A loaded indexed dataset, every field of the index checked against the files' sizes.
public struct IndexedDatasetReader: Sendable {
    public let prefix: String
    public let type: IndexedDataset.TokenType
    public let lengths: [Int]          // tokens per document
    public let offsets: [Int]          // first token of each document
    public let tokens: [Int32]         // all tokens

    public init(prefix: String) throws {
        func bad(_ file: String, _ reason: String) -> DataError { DataError.unreadable(path: file, reason: reason) }
        let idxPath = prefix + ".idx", binPath = prefix + ".bin"
        guard let idx = FileManager.default.contents(atPath: idxPath) else { throw bad(idxPath, "no such file") }
        guard let bin = FileManager.default.contents(atPath: binPath) else { throw bad(binPath, "no such file") }
        guard idx.count >= 34, Array(idx.prefix(9)) == IndexedDataset.magic else { throw bad(idxPath, "not a Megatron indexed dataset (no MMIDIDX header)") }
        func u64(_ at: Int) -> UInt64 { idx.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian } }
        guard u64(9) == 1 else { throw bad(idxPath, "version \(u64(9)); only version 1 is read") }
        guard let type = IndexedDataset.TokenType(rawValue: idx[idx.startIndex + 17]) else {
            throw bad(idxPath, "token dtype code \(idx[idx.startIndex + 17]); only 8 (uint16) and 4 (int32) are read")
        }
        let count = u64(18), docCount = u64(26)
        guard count < 1 << 40, docCount == count + 1 else { throw bad(idxPath, "\(count) sequences and \(docCount) document entries; expected one document per sequence") }
        let n = Int(count)
        let expected = 34 + n * 4 + n * 8 + (n + 1) * 8
        guard idx.count == expected else { throw bad(idxPath, "is \(idx.count) bytes, expected \(expected) for \(n) sequences") }
        var lengths = [Int](repeating: 0, count: n), offsets = [Int](repeating: 0, count: n)
        var total = 0
        try idx.withUnsafeBytes { raw in
            for i in 0..<n {
                let size = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 34 + 4 * i, as: Int32.self)))
                let pointer = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 34 + 4 * n + 8 * i, as: Int64.self)))
                guard size >= 0, pointer == total * type.size else { throw bad(idxPath, "sequence \(i): size \(size) at byte \(pointer) does not follow the one before") }
                lengths[i] = size
                offsets[i] = total
                total += size
            }
        }
        guard bin.count == total * type.size else { throw bad(binPath, "is \(bin.count) bytes; the index says \(total * type.size)") }
        var tokens = [Int32](repeating: 0, count: total)
        bin.withUnsafeBytes { raw in
            for i in 0..<total {
                tokens[i] = type == .uint16 ? Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    : Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
            }
        }
        self.prefix = prefix
        self.type = type
        self.lengths = lengths
        self.offsets = offsets
        self.tokens = tokens
    }
}

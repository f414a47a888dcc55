import Foundation

/// Megatron-LM's indexed dataset ("MMIDIDX", version 1): `PREFIX.bin` holds the tokens of every
/// sequence back to back; `PREFIX.idx` holds a header (9-byte magic, version u64 = 1, dtype code
/// u8, sequence count u64, document count u64), then sizes (int32 per sequence), pointers (int64
/// byte offset per sequence) and the document index (int64, the sequence where each document
/// starts, then the sequence count: D + 1 entries). Written here with one sequence per document,
/// ending with the end-of-document token; `IndexedDatasetReader` reads documents of any number.
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
        var d = Data()
        emitIndex(lengths: lengths.map { Int32($0) }, type: type) { d.append(contentsOf: $0) }
        return d
    }

    /// The .idx for documents of `lengths` tokens (one sequence each), in pieces through `emit`
    /// (front to back: a file can be written without holding the index).
    static func emitIndex(lengths: [Int32], type: TokenType, _ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var header = magic
        withUnsafeBytes(of: UInt64(1).littleEndian) { header += $0 }
        header.append(type.rawValue)
        withUnsafeBytes(of: UInt64(lengths.count).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(lengths.count + 1).littleEndian) { header += $0 }
        try header.withUnsafeBytes(emit)
        for n in lengths { try withUnsafeBytes(of: n.littleEndian, emit) }   // sizes, tokens
        var offset: Int64 = 0
        for n in lengths {                                                   // pointers, bytes
            try withUnsafeBytes(of: offset.littleEndian, emit)
            offset += Int64(n) * Int64(type.size)
        }
        for i in 0...lengths.count { try withUnsafeBytes(of: Int64(i).littleEndian, emit) }   // document index
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
            throw DataError.unwritable(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}

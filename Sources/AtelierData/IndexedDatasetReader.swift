import Foundation

/// An indexed dataset read in place: PREFIX.bin and PREFIX.idx are memory-mapped, tokens stay in
/// the file's dtype and the index arrays (sizes, pointers, document index) are read from the
/// mapped .idx when asked for, so opening a dataset costs no memory that grows with it. Opening
/// checks every field of the index against the files' sizes (one pass over the index, none over
/// the tokens).
///
/// A document is one or more consecutive sequences (Megatron's document index: D + 1 entries,
/// the first 0, non-decreasing, the last the sequence count). `atelier preprocess` writes one
/// sequence per document; Megatron's sentence-split datasets have several.
public struct IndexedDatasetReader: Sendable {
    public let prefix: String
    public let type: IndexedDataset.TokenType
    public let sequenceCount: Int
    public let documentCount: Int
    public let tokenCount: Int
    let index: MappedFile   // PREFIX.idx
    let data: MappedFile    // PREFIX.bin

    static let headerSize = 34   // magic 9, version 8, dtype 1, sequence count 8, document entries 8

    public init(prefix: String) throws {
        let idxPath = prefix + ".idx", binPath = prefix + ".bin"
        func bad(_ file: String, _ reason: String) -> DataError { DataError.unreadable(path: file, reason: reason) }
        let index = try MappedFile(path: idxPath), data = try MappedFile(path: binPath)
        let h = Self.headerSize
        guard index.count >= h, index.bytes.prefix(9).elementsEqual(IndexedDataset.magic) else {
            throw bad(idxPath, "not a Megatron indexed dataset (no MMIDIDX header)")
        }
        let version = index.load(UInt64.self, at: 9)
        guard version == 1 else { throw bad(idxPath, "version \(version); only version 1 is read") }
        guard let type = IndexedDataset.TokenType(rawValue: index.bytes[17]) else {
            throw bad(idxPath, "token dtype code \(index.bytes[17]); only 8 (uint16) and 4 (int32) are read")
        }
        let count = index.load(UInt64.self, at: 18), entries = index.load(UInt64.self, at: 26)
        guard count < 1 << 40, entries >= 1, entries <= count + 1 else {
            throw bad(idxPath, "\(count) sequences and \(entries) document index entries; expected 1 to sequences + 1 entries")
        }
        let n = Int(count), e = Int(entries)
        let expected = h + n * 4 + n * 8 + e * 8
        guard index.count == expected else { throw bad(idxPath, "is \(index.count) bytes, expected \(expected) for \(n) sequences and \(e) document index entries") }
        // sizes and pointers: sequence i starts where sequence i - 1 ends, inside the .bin; read in
        // blocks, each block's pages released once checked (the index is 20 bytes a sequence)
        var total = 0
        let block = 1 << 16
        for first in stride(from: 0, to: n, by: block) {
            let last = min(n, first + block)
            for i in first..<last {
                let size = Int(index.load(Int32.self, at: h + 4 * i))
                let pointer = Int(index.load(Int64.self, at: h + 4 * n + 8 * i))
                guard size >= 0, pointer == total * type.size else { throw bad(idxPath, "sequence \(i): size \(size) at byte \(pointer) does not follow the one before") }
                total += size
                guard total * type.size <= data.count else {
                    throw bad(binPath, "is \(data.count) bytes; the index says sequence \(i) ends at byte \(total * type.size)")
                }
            }
            index.releasePages((h + 4 * first)..<(h + 4 * last))
            index.releasePages((h + 4 * n + 8 * first)..<(h + 4 * n + 8 * last))
        }
        guard data.count == total * type.size else { throw bad(binPath, "is \(data.count) bytes; the index says \(total * type.size)") }
        // document index: 0, non-decreasing, ending at the sequence count
        var previous = 0
        for d in 0..<e {
            let first = Int(index.load(Int64.self, at: h + 12 * n + 8 * d))
            let valid = d == 0 ? first == 0 : (first >= previous && first <= n)
            guard valid, d < e - 1 || first == n else {
                throw bad(idxPath, "document index entry \(d) is \(first); expected 0 first, then non-decreasing up to the sequence count \(n)")
            }
            previous = first
            if d % block == block - 1 { index.releasePages((h + 12 * n + 8 * (d + 1 - block))..<(h + 12 * n + 8 * (d + 1))) }
        }
        index.releasePages()   // training reads a few pages of the index, again when it needs them
        self.prefix = prefix
        self.type = type
        self.sequenceCount = n
        self.documentCount = e - 1
        self.tokenCount = total
        self.index = index
        self.data = data
    }

    /// Tokens in sequence `i`.
    public func sequenceLength(_ i: Int) -> Int {
        Int(index.load(Int32.self, at: Self.headerSize + 4 * i))
    }

    /// The position (in tokens) of sequence `i`'s first token; `sequenceCount` gives `tokenCount`.
    public func sequenceStart(_ i: Int) -> Int {
        i == sequenceCount ? tokenCount : Int(index.load(Int64.self, at: Self.headerSize + 4 * sequenceCount + 8 * i)) / type.size
    }

    /// The sequences of document `d`.
    public func documentSequences(_ d: Int) -> Range<Int> {
        let at = Self.headerSize + 12 * sequenceCount + 8 * d
        return Int(index.load(Int64.self, at: at))..<Int(index.load(Int64.self, at: at + 8))
    }

    /// The position of document `d`'s first token; `documentCount` gives `tokenCount`.
    public func documentStart(_ d: Int) -> Int {
        d == documentCount ? tokenCount : sequenceStart(documentSequences(d).lowerBound)
    }

    /// The sequence holding token `position` (a binary search of the pointers).
    public func sequence(containing position: Int) -> Int {
        var lo = 0, hi = sequenceCount   // sequenceStart(lo) <= position < sequenceStart(hi)
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if sequenceStart(mid) <= position { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// The token at `position`, widened.
    public func token(at position: Int) -> Int32 {
        type == .uint16 ? Int32(data.load(UInt16.self, at: 2 * position)) : data.load(Int32.self, at: 4 * position)
    }

    /// `count` tokens from `start`, widened to int32 into `out`; each checked against the model's
    /// vocabulary (an id outside [0, vocabularySize) is an error naming the dataset and position).
    public func copyTokens(from start: Int, count: Int, vocabularySize: Int, into out: UnsafeMutablePointer<Int32>) throws {
        precondition(start >= 0 && start + count <= tokenCount, "window outside the dataset")
        for i in 0..<count {
            let id = token(at: start + i)
            guard id >= 0 && Int(id) < vocabularySize else {
                let position = start + i
                throw DataError.tokenOutOfRange(path: data.path, position: position, sequence: sequence(containing: position),
                                                id: Int(id), vocabularySize: vocabularySize)
            }
            out[i] = id
        }
    }
}

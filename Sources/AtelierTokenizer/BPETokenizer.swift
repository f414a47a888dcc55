import Foundation

/// Errors of the tokenizer, naming what and where.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case badFile(path: String, problem: String)
    case badTraining(String)

    public var description: String {
        switch self {
        case .badFile(let path, let problem): return "\(path): \(problem)"
        case .badTraining(let problem): return "tokenizer training: \(problem)"
        }
    }
}

/// A byte-level BPE tokenizer with BLOOM's recipe: no normalisation, BLOOM's pre-tokenizer, the
/// byte-level alphabet without a prefix space, merges applied by rank within each piece, special
/// tokens matched in the text first. Reads and writes Hugging Face's tokenizer.json.
public final class BPETokenizer: @unchecked Sendable {
    /// Token byte strings by id.
    public let tokens: [[UInt8]]
    /// Ordered merges, as pairs of token ids; merge r makes token `mergeResults[r]`.
    public let merges: [(Int32, Int32)]
    public let specials: [String]          // added special tokens, their ids are `specialIDs`
    public let specialIDs: [Int32]
    let byteIDs: [Int32]                   // the token of each single byte
    let mergeTable: [UInt64: (rank: Int32, result: Int32)]
    let idsOfSpecial: [String: Int32]
    private var cache: [ArraySlice<UInt8>: [Int32]] = [:]
    private let cacheLock = NSLock()

    public var vocabularySize: Int { tokens.count }

    /// The id of an added special token ("<s>", "</s>", "<pad>", ...), if the tokenizer has it.
    public func specialID(_ text: String) -> Int32? { idsOfSpecial[text] }

    /// `tokens[id]` the bytes of each token; `merges` as (left, right) ids in rank order; each
    /// merge's result must be a token. Special tokens by their text and id.
    public init(tokens: [[UInt8]], merges: [(Int32, Int32)], specials: [(String, Int32)]) throws {
        self.tokens = tokens
        self.merges = merges
        self.specials = specials.map(\.0)
        specialIDs = specials.map(\.1)
        idsOfSpecial = Dictionary(specials, uniquingKeysWith: { a, _ in a })
        // Token ids by bytes; a special token's text counts too ("<s>" is also what merging "<",
        // "s", ">" gives, and Hugging Face maps both to its id).
        var ids: [[UInt8]: Int32] = [:]
        for (id, bytes) in tokens.enumerated() where ids[bytes] == nil { ids[bytes] = Int32(id) }
        var single = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = ids[[UInt8(b)]] else { throw TokenizerError.badTraining("the vocabulary has no token for byte \(b)") }
            single[b] = id
        }
        byteIDs = single
        var table: [UInt64: (Int32, Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (l, r)) in merges.enumerated() {
            guard Int(l) < tokens.count, Int(r) < tokens.count, l >= 0, r >= 0,
                  let result = ids[tokens[Int(l)] + tokens[Int(r)]] else {
                throw TokenizerError.badTraining("merge \(rank) makes a token that is not in the vocabulary")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil { table[key] = (Int32(rank), result) }
        }
        mergeTable = table.mapValues { (rank: $0.0, result: $0.1) }
    }

    // MARK: encoding

    public func encode(_ text: String) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(utf8: $0) }
    }

    /// Encodes valid UTF-8.
    public func encode(utf8 text: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.count / 3)
        var start = 0
        if !specials.isEmpty {
            var i = 0
            while i < text.count {
                if text[i] == UInt8(ascii: "<"), let (special, length) = specialAt(text, i) {
                    encodePlain(UnsafeBufferPointer(rebasing: text[start..<i]), into: &out)
                    out.append(special)
                    i += length
                    start = i
                } else {
                    i += 1
                }
            }
        }
        encodePlain(UnsafeBufferPointer(rebasing: text[start...]), into: &out)
        return out
    }

    /// The special token that starts at `i`, if any (longest first).
    private func specialAt(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Int32, Int)? {
        var best: (Int32, Int)?
        for (s, id) in zip(specials, specialIDs) {
            let u = Array(s.utf8)
            guard u.count <= text.count - i, u.count > (best?.1 ?? 0) else { continue }
            if (0..<u.count).allSatisfy({ text[i + $0] == u[$0] }) { best = (id, u.count) }
        }
        return best
    }

    private func encodePlain(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        BloomPreTokenizer.split(text) { range in
            let piece = text[range]
            cacheLock.lock()
            let cached = cache[ArraySlice(piece)]
            cacheLock.unlock()
            if let cached { out += cached; return }
            let ids = bpe(UnsafeBufferPointer(rebasing: piece))
            cacheLock.lock()
            if cache.count > 1 << 20 { cache.removeAll(keepingCapacity: true) }
            cache[ArraySlice(piece)] = ids
            cacheLock.unlock()
            out += ids
        }
    }

    /// BPE on one piece: repeatedly merge the adjacent pair of lowest rank.
    func bpe(_ piece: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var symbols = piece.map { byteIDs[Int($0)] }
        while symbols.count > 1 {
            var bestRank = Int32.max, bestAt = -1, bestResult: Int32 = 0
            for k in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))
                if let m = mergeTable[key], m.rank < bestRank { bestRank = m.rank; bestAt = k; bestResult = m.result }
            }
            guard bestAt >= 0 else { break }
            // merge every occurrence of this pair, left to right
            let left = symbols[bestAt], right = symbols[bestAt + 1]
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count && symbols[k] == left && symbols[k + 1] == right {
                    merged.append(bestResult)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    // MARK: decoding

    /// The bytes of the ids, concatenated; unknown ids are skipped.
    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokens.count { out += tokens[Int(id)] }
        return out
    }

    /// The text of the ids; bytes that do not form valid UTF-8 (a sequence cut inside a
    /// character) become U+FFFD, as in Hugging Face's decoder.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }
}

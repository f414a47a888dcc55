import Foundation

/// Trains a byte-level BPE vocabulary with BLOOM's recipe: pieces from `BloomPreTokenizer`, the
/// 256 bytes as the initial alphabet after the special tokens, then the most frequent adjacent
/// pair merged until the vocabulary has the size asked for. Optionally weights languages:
/// p_i proportional to n_i^alpha (n_i the bytes of language i), as in XLM-R and BigScience's
/// sampling, by scaling each language's counts by p_i / (n_i / N).
public struct BPETrainer {
    public static let bloomSpecials = ["<unk>", "<s>", "</s>", "<pad>"]

    public var vocabularySize: Int
    public var specials: [String]
    public var alpha: Double?

    public init(vocabularySize: Int, specials: [String] = BPETrainer.bloomSpecials, alpha: Double? = nil) {
        self.vocabularySize = vocabularySize
        self.specials = specials
        self.alpha = alpha
    }

    /// Piece counts per language, then the merges.
    public func train(documents: [(text: String, language: String?)]) throws -> BPETokenizer {
        guard vocabularySize >= specials.count + 256 else {
            throw TokenizerError.badTraining("a vocabulary of \(vocabularySize) cannot hold the \(specials.count) special tokens and 256 bytes")
        }
        var byLanguage: [String: [[UInt8]: Double]] = [:]
        var bytesByLanguage: [String: Double] = [:]
        for document in documents {
            let language = document.language ?? ""
            var text = document.text
            text.withUTF8 { utf8 in
                bytesByLanguage[language, default: 0] += Double(utf8.count)
                var counts = byLanguage[language, default: [:]]
                byLanguage[language] = nil
                BloomPreTokenizer.split(utf8) { range in counts[Array(utf8[range]), default: 0] += 1 }
                byLanguage[language] = counts
            }
        }
        // Every sum below runs in a fixed order (languages by name, pieces by bytes): Swift's
        // dictionaries iterate in a different order in every process, floating-point sums in a
        // different order differ in their last bits, and near-equal pairs then merge in another
        // order: the same corpus gave a different tokenizer.json on every run.
        var weights: [String: Double] = [:]
        let sizes = bytesByLanguage.sorted { $0.key < $1.key }
        let total = sizes.reduce(0) { $0 + $1.value }
        if let alpha, sizes.count > 1 {
            let z = sizes.reduce(0) { $0 + pow($1.value, alpha) }
            for (language, n) in sizes { weights[language] = (pow(n, alpha) / z) / (n / total) }
        }
        var counts: [[UInt8]: Double] = [:]
        for (language, words) in byLanguage.sorted(by: { $0.key < $1.key }) {
            let w = weights[language] ?? 1
            for (word, c) in words { counts[word, default: 0] += c * w }
        }
        return try merge(counts)
    }

    func merge(_ wordCounts: [[UInt8]: Double]) throws -> BPETokenizer {
        var tokens: [[UInt8]] = specials.map { Array($0.utf8) }
        let firstByte = Int32(tokens.count)
        tokens += (0..<256).map { [UInt8($0)] }
        var words: [[Int32]] = []
        var counts: [Double] = []
        words.reserveCapacity(wordCounts.count)
        for (word, c) in wordCounts.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where word.count > 1 {
            words.append(word.map { firstByte + Int32($0) })
            counts.append(c)
        }
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        var pairCounts: [UInt64: Double] = [:]
        var wherePair: [UInt64: [Int32]] = [:]
        for (w, word) in words.enumerated() {
            for k in 0..<(word.count - 1) {
                let p = key(word[k], word[k + 1])
                pairCounts[p, default: 0] += counts[w]
                wherePair[p, default: []].append(Int32(w))
            }
        }
        var heap = PairHeap()
        for (p, c) in pairCounts where c > 0 { heap.push(c, p) }
        var merges: [(Int32, Int32)] = []
        var idOf = Dictionary(tokens.enumerated().map { ($0.element, Int32($0.offset)) }, uniquingKeysWith: { a, _ in a })
        while tokens.count < vocabularySize, let (count, pair) = heap.pop() {
            let current = pairCounts[pair] ?? 0
            guard current > 0 else { continue }
            if current != count { heap.push(current, pair); continue }   // stale entry
            let left = Int32(truncatingIfNeeded: pair >> 32), right = Int32(truncatingIfNeeded: pair & 0xFFFF_FFFF)
            // A merge that spells an existing token (a special token's text) reuses its id.
            let bytes = tokens[Int(left)] + tokens[Int(right)]
            let new: Int32
            if let existing = idOf[bytes] {
                new = existing
            } else {
                new = Int32(tokens.count)
                tokens.append(bytes)
                idOf[bytes] = new
            }
            merges.append((left, right))
            var touched: [UInt64: Double] = [:]
            var seen = Set<Int32>()
            for w in wherePair[pair] ?? [] where seen.insert(w).inserted {
                let old = words[Int(w)]
                guard old.count > 1 else { continue }
                var merged: [Int32] = []
                merged.reserveCapacity(old.count)
                var k = 0, changed = false
                while k < old.count {
                    if k + 1 < old.count && old[k] == left && old[k + 1] == right {
                        merged.append(new); k += 2; changed = true
                    } else {
                        merged.append(old[k]); k += 1
                    }
                }
                guard changed else { continue }
                let c = counts[Int(w)]
                for k in 0..<(old.count - 1) { touched[key(old[k], old[k + 1]), default: 0] -= c }
                for k in 0..<max(0, merged.count - 1) {
                    let p = key(merged[k], merged[k + 1])
                    touched[p, default: 0] += c
                    if merged[k] == new || merged[k + 1] == new { wherePair[p, default: []].append(w) }
                }
                words[Int(w)] = merged
            }
            wherePair[pair] = nil
            for (p, delta) in touched where delta != 0 {
                let updated = (pairCounts[p] ?? 0) + delta
                pairCounts[p] = updated > 1e-9 ? updated : nil
                if updated > 1e-9 && delta > 0 { heap.push(updated, p) }
            }
        }
        let specialIDs = specials.enumerated().map { ($0.element, Int32($0.offset)) }
        return try BPETokenizer(tokens: tokens, merges: merges, specials: specialIDs)
    }
}

/// A max-heap of (count, pair), ties broken by the smaller pair, for a deterministic order.
struct PairHeap {
    private var items: [(Double, UInt64)] = []

    private static func above(_ a: (Double, UInt64), _ b: (Double, UInt64)) -> Bool {
        a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
    }

    mutating func push(_ count: Double, _ pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.above(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (Double, UInt64)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && Self.above(items[l], items[best]) { best = l }
                if r < items.count && Self.above(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}

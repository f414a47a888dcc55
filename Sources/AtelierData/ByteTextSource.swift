import AtelierCore
import AtelierJob
import Foundation

/// UTF-8 text files read as bytes: token = byte value, `</s>` after each file (document).
/// The stream is cut into non-overlapping windows of T + 1 tokens (stride T).
public struct ByteTextSource: TokenSource {
    public let tokens: [UInt16]   // [count] byte values and specials
    public let sequenceLength: Int
    public let sampleCount: Int

    public init(paths: [String], sequenceLength: Int) throws {
        var stream: [UInt16] = []
        for path in paths {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw DataError.unreadable(path: path, reason: (error as NSError).localizedDescription)
            }
            stream.reserveCapacity(stream.count + data.count + 1)
            stream.append(contentsOf: data.lazy.map { UInt16($0) })
            stream.append(UInt16(ByteVocabulary.eos))
        }
        guard stream.count >= sequenceLength + 1 else {
            throw DataError.tooSmall(paths: paths, tokens: stream.count, needed: sequenceLength + 1)
        }
        self.tokens = stream
        self.sequenceLength = sequenceLength
        self.sampleCount = (stream.count - 1) / sequenceLength
    }

    public func fill(sample index: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let start = index * sequenceLength
        tokens.withUnsafeBufferPointer { t in
            for i in 0..<sequenceLength {
                inputs[i] = Int32(t[start + i])
                targets[i] = Int32(t[start + i + 1])
            }
        }
    }
}

/// Uniformly random tokens, a pure function of (seed, sample, position): for benchmarks.
public struct RandomTokenSource: TokenSource {
    public let vocabSize: Int
    public let sequenceLength: Int
    public let seed: UInt64
    public let sampleCount = Int(Int32.max)

    public init(vocabSize: Int, sequenceLength: Int, seed: UInt64) {
        self.vocabSize = vocabSize
        self.sequenceLength = sequenceLength
        self.seed = seed
    }

    public func fill(sample index: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        var rng = SeededRandom(seed: seed, stream: UInt64(index))
        var previous = Int32(truncatingIfNeeded: rng.next() % UInt64(vocabSize))
        for i in 0..<sequenceLength {
            let next = Int32(truncatingIfNeeded: rng.next() % UInt64(vocabSize))
            inputs[i] = previous
            targets[i] = next
            previous = next
        }
    }
}

import AtelierData
import AtelierJob
import Foundation
import XCTest

final class SampleOrderTests: XCTestCase {
    func testEachEpochIsAPermutation() {
        for count in [1, 2, 7, 100, 1000, 4097] {
            let order = SampleOrder(sampleCount: count, seed: 42)
            for epoch in 0..<2 {
                let seen = (0..<count).map { order.sample(at: epoch * count + $0) }
                XCTAssertEqual(Set(seen).count, count, "count \(count) epoch \(epoch)")
                XCTAssertTrue(seen.allSatisfy { (0..<count).contains($0) })
            }
        }
    }

    func testOrderDependsOnSeedAndEpochOnly() {
        let a = SampleOrder(sampleCount: 1000, seed: 1), b = SampleOrder(sampleCount: 1000, seed: 1)
        let c = SampleOrder(sampleCount: 1000, seed: 2)
        let first = (0..<1000).map(a.sample(at:))
        XCTAssertEqual(first, (0..<1000).map(b.sample(at:)))
        XCTAssertNotEqual(first, (0..<1000).map(c.sample(at:)))
        XCTAssertNotEqual(first, (1000..<2000).map(a.sample(at:)), "each epoch is shuffled anew")
        XCTAssertNotEqual(first, Array(0..<1000), "shuffled")
    }

    func testRankSlicesAreDisjointAndComplete() {
        let global = 24
        for world in [1, 2, 3, 4] {
            for micro in [1, 2] where global % (world * micro) == 0 {
                let accumulation = global / (world * micro)
                var seen: [Int] = []
                for rank in 0..<world {
                    let slice = RankSlice(rank: rank, worldSize: world, globalBatchSize: global, microBatchSize: micro)
                    for m in 0..<accumulation { seen += Array(slice.positions(stepStart: 72, micro: m)) }
                }
                XCTAssertEqual(seen.sorted(), Array(72..<96), "world \(world) micro \(micro)")
            }
        }
    }

    func testByteSourceWindowsShiftByOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-data-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.txt"), b = dir.appendingPathComponent("b.txt")
        try Data("héllo".utf8).write(to: a)   // 6 bytes
        try Data("wörld!".utf8).write(to: b)  // 7 bytes
        let source = try ByteTextSource(paths: [a.path, b.path], sequenceLength: 4)
        // stream: 6 + 1 (</s>) + 7 + 1 = 15 tokens -> (15 - 1) / 4 = 3 samples
        XCTAssertEqual(source.tokens.count, 15)
        XCTAssertEqual(source.tokens[6], UInt16(ByteVocabulary.eos))
        XCTAssertEqual(source.sampleCount, 3)
        var inputs = [Int32](repeating: 0, count: 4), targets = inputs
        source.fill(sample: 1, inputs: &inputs, targets: &targets)
        // stream: h C3 A9 l l o </s> w C3 B6 r l d ! </s>; sample 1 starts at token 4
        XCTAssertEqual(inputs, [108, 111, ByteVocabulary.eos, 119])      // "l", "o", </s>, "w"
        XCTAssertEqual(targets, [111, ByteVocabulary.eos, 119, 0xC3])    // shifted by one
        XCTAssertThrowsError(try ByteTextSource(paths: [dir.appendingPathComponent("missing").path], sequenceLength: 4)) { error in
            XCTAssertTrue("\(error)".contains("missing: cannot read training data"), "\(error)")
        }
        XCTAssertThrowsError(try ByteTextSource(paths: [a.path], sequenceLength: 64)) { error in
            XCTAssertTrue("\(error)".contains("fewer than one sample needs"), "\(error)")
        }
    }

    func testRanksTogetherLoadWhatOneRankLoads() throws {
        let source = RandomTokenSource(vocabSize: 50, sequenceLength: 5, seed: 9)
        func batch(rank: Int, world: Int, micro: Int, m: Int) throws -> [Int32] {
            let loader = BatchLoader(source: source, seed: 3,
                                     slice: RankSlice(rank: rank, worldSize: world, globalBatchSize: 8, microBatchSize: micro),
                                     sequenceLength: 5)
            var inputs = [Int32](repeating: 0, count: micro * 5), targets = inputs
            try loader.load(stepStart: 16, micro: m, inputs: &inputs, targets: &targets)
            return inputs
        }
        let one = try batch(rank: 0, world: 1, micro: 8, m: 0)
        let two = try batch(rank: 0, world: 2, micro: 4, m: 0) + batch(rank: 1, world: 2, micro: 4, m: 0)
        let accumulated = try batch(rank: 0, world: 1, micro: 4, m: 0) + batch(rank: 0, world: 1, micro: 4, m: 1)
        XCTAssertEqual(one, two)
        XCTAssertEqual(one, accumulated)
    }
}

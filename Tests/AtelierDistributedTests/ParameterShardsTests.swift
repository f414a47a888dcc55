import AtelierDistributed
import XCTest

/// ZeRO stage 1's shards: boundaries from P and N only, on whole vectors, and the per-rank counts
/// a gradient bucket is reduced with.
final class ParameterShardsTests: XCTestCase {
    func testBoundariesAreContiguousAlignedAndAFunctionOfPAndN() {
        // P = 100, N = 4: ceil(100/4) = 25 rounded up to 32
        let s = ParameterShards(parameters: 100, ranks: 4)
        XCTAssertEqual(s.stride, 32)
        XCTAssertEqual((0..<4).map { s.range(of: $0) }, [0..<32, 32..<64, 64..<96, 96..<100])
        XCTAssertEqual(s.largest, 32)
        // fewer parameters than the ranks' vectors: the last shards are empty, never out of range
        let small = ParameterShards(parameters: 20, ranks: 4)
        XCTAssertEqual((0..<4).map { small.range(of: $0) }, [0..<16, 16..<20, 20..<20, 20..<20])
        XCTAssertEqual(ParameterShards(parameters: 1000, ranks: 1).range(of: 0), 0..<1000)
        for (P, N) in [(27_584, 2), (27_584, 3), (3_456_384, 4), (1, 4), (0, 2), (17, 1), (123_457, 7)] {
            let shards = ParameterShards(parameters: P, ranks: N)
            XCTAssertEqual(shards, ParameterShards(parameters: P, ranks: N))
            var next = 0
            for r in 0..<N {
                let range = shards.range(of: r)
                XCTAssertEqual(range.lowerBound, next, "P \(P) N \(N) rank \(r)")
                if range.upperBound < P { XCTAssertEqual(range.upperBound % 16, 0, "P \(P) N \(N) rank \(r) ends on a vector") }
                XCTAssertLessThanOrEqual(range.count, shards.largest)
                next = range.upperBound
            }
            XCTAssertEqual(next, P, "P \(P) N \(N): the shards cover every parameter")
        }
    }

    func testReduceScatterCountsAreTheBucketsIntersectionWithEachShard() {
        let s = ParameterShards(parameters: 100, ranks: 4)   // [0,32) [32,64) [64,96) [96,100)
        XCTAssertEqual(s.counts(of: 10..<20), [10, 0, 0, 0])
        XCTAssertEqual(s.counts(of: 30..<70), [2, 32, 6, 0])
        XCTAssertEqual(s.counts(of: 90..<100), [0, 0, 6, 4])
        XCTAssertEqual(s.counts(of: 0..<100), [32, 32, 32, 4])
        XCTAssertEqual(s.counts(of: 50..<50), [0, 0, 0, 0])
        XCTAssertEqual(s.owners(of: 30..<70).map(\.rank), [0, 1, 2])
        XCTAssertEqual(s.owners(of: 30..<70).map(\.part), [30..<32, 32..<64, 64..<70])
        XCTAssertEqual(s.owners(of: 96..<100).map(\.rank), [3])
        XCTAssertTrue(s.owners(of: 5..<5).isEmpty)
        // every bucket's counts add up to the bucket, in rank order, whatever the cut
        let shards = ParameterShards(parameters: 27_584, ranks: 3)
        for bucket in [0..<27_584, 1..<9_201, 9_190..<9_210, 27_000..<27_584] {
            XCTAssertEqual(shards.counts(of: bucket).reduce(0, +), bucket.count)
            XCTAssertEqual(shards.owners(of: bucket).map(\.part.count), shards.counts(of: bucket).filter { $0 > 0 })
            XCTAssertEqual(shards.owners(of: bucket).first?.part.lowerBound, bucket.lowerBound)
            XCTAssertEqual(shards.owners(of: bucket).last?.part.upperBound, bucket.upperBound)
        }
    }
}

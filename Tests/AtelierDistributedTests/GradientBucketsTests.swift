import AtelierCore
import AtelierDistributed
import AtelierJob
import AtelierModel
import Foundation
import MPI
import XCTest

final class GradientBucketsTests: XCTestCase {
    let shape = ModelShape(vocabSize: 300, hiddenSize: 32, layers: 3, heads: 4, sequenceLength: 8)

    /// Buckets are contiguous, cover every parameter once, never join the tied table with
    /// anything (it completes first, away from ln_f in memory), and stay near the cap.
    func testPlanCutsContiguousBucketsAtUnitBoundaries() {
        let layout = ParameterLayout(shape: shape)
        for cap in [1, 4096, 20_000, 1 << 30] {
            let plan = GradientBuckets.plan(units: layout.backwardUnits, bucketBytes: cap)
            XCTAssertEqual(plan.first?.range, layout.embeddingTableRange, "cap \(cap)")
            XCTAssertEqual(plan.map(\.range.count).reduce(0, +), layout.count, "cap \(cap)")
            XCTAssertEqual(Set(plan.flatMap(\.range)).count, layout.count, "cap \(cap): no overlap")
            for bucket in plan {
                XCTAssertEqual(bucket.units.map(\.count).reduce(0, +), bucket.range.count)
                XCTAssertEqual(bucket.units.first?.upperBound, bucket.range.upperBound)
                XCTAssertEqual(bucket.units.last?.lowerBound, bucket.range.lowerBound)
                // a bucket holds more than one unit only if it was under the cap before the last one
                if bucket.units.count > 1 {
                    let before = bucket.units.dropLast().map(\.count).reduce(0, +) * 4
                    XCTAssertLessThan(before, cap)
                }
            }
        }
        XCTAssertEqual(GradientBuckets.plan(units: layout.backwardUnits, bucketBytes: 1).count, layout.backwardUnits.count)
        XCTAssertEqual(GradientBuckets.plan(units: layout.backwardUnits, bucketBytes: 1 << 30).count, 2, "the table, then the rest")
    }

    /// MPI_Init found atelier's OpenMPI settings in the environment (none of them set by the test's caller).
    func testTransportDefaultsAreSetBeforeMPIInit() throws {
        _ = try Communicator.world()
        for (variable, value) in Communicator.transportDefaults {
            XCTAssertEqual(ProcessInfo.processInfo.environment[variable], value, variable)
        }
    }

    func testAutomaticBucketSizeIsASixteenthBetweenHalfAndTwentyFiveMiB() {
        XCTAssertEqual(GradientBuckets.automaticBucketBytes(gradientBytes: 13_830_000), 864_375)
        XCTAssertEqual(GradientBuckets.automaticBucketBytes(gradientBytes: 1_000_000), 524_288)
        XCTAssertEqual(GradientBuckets.automaticBucketBytes(gradientBytes: 700_000_000_000), 26_214_400)
    }

    /// The lookup's rows, summed over this one-rank world and added into a table, equal the plain
    /// scatter of the lookup's gradient (bit for bit from a zero table; both strategies).
    func testEmbeddingRowsSumEqualsTheScatter() throws {
        let comm = try Communicator.world()
        let V = 50, C = 24, N = 40
        var random = SeededRandom(seed: 5)
        let tokens = (0..<N).map { _ in Int32(random.next() % 13 * 3) }   // repeats, gaps
        let dout = (0..<N * C).map { _ in Float(random.nextUnit() * 2 - 1) }
        var expected = [Float](repeating: 0, count: V * C)
        Embedding.backward(dtable: &expected, dout: dout, tokens: tokens, rows: N, channels: C)
        for sent in [true, false] {
            let rows = EmbeddingRowsSum(vocab: V, channels: C, ranks: comm.size)
            for _ in 0..<2 {   // the second step reuses the buffers
                rows.begin(tokens: tokens)
                var exchange = sent ? try rows.startExchange(comm) : []
                try comm.waitAll(&exchange, operation: "test exchange")
                rows.accumulate(dout: dout, tokens: tokens, count: N)
                var sum = try rows.startSum(sent ? comm : nil)
                try comm.waitAll(&sum, operation: "test sum")
                var table = [Float](repeating: 0, count: V * C)
                rows.addInto(table: &table)
                XCTAssertEqual(table, expected, sent ? "gather" : "local")
                XCTAssertEqual(rows.strategy, sent ? .gather : .union)
                XCTAssertEqual(rows.rowsMoved, Set(tokens).count)
            }
        }
    }
}

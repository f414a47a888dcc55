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
    /// anything (it completes first, away from ln_f in memory), and stay near the cap; a unit
    /// larger than the cap is cut into pieces of at most the cap, from its top down.
    func testPlanCutsContiguousBucketsAtUnitBoundaries() {
        let layout = ParameterLayout(shape: shape)
        let table = layout.embeddingTableRange
        for cap in [4, 4096, 20_000, 1 << 30] {
            let plan = GradientBuckets.plan(units: layout.backwardUnits, bucketBytes: cap)
            XCTAssertEqual(plan.first?.range.upperBound, table.upperBound, "cap \(cap)")
            XCTAssertEqual(plan.map(\.range.count).reduce(0, +), layout.count, "cap \(cap)")
            XCTAssertEqual(Set(plan.flatMap(\.range)).count, layout.count, "cap \(cap): no overlap")
            XCTAssertTrue(plan.filter { $0.range.overlaps(table) }.allSatisfy { $0.units == [table] }, "cap \(cap): the table alone")
            for bucket in plan {
                if bucket.units.count == 1, bucket.units[0] != bucket.range {
                    // a piece of a unit larger than the cap
                    XCTAssertTrue(bucket.units[0].contains(bucket.range.lowerBound) && bucket.range.upperBound <= bucket.units[0].upperBound)
                    XCTAssertLessThanOrEqual(bucket.range.count * 4, max(cap, 4))
                    XCTAssertGreaterThan(bucket.units[0].count * 4, cap)
                    continue
                }
                XCTAssertEqual(bucket.units.last?.lowerBound, bucket.range.lowerBound)
                // a bucket holds more than one unit only if it was under the cap before the last one
                if bucket.units.count > 1 {
                    let before = bucket.range.count - bucket.units.last!.count
                    XCTAssertLessThan(before * 4, cap)
                }
            }
        }
        XCTAssertEqual(GradientBuckets.plan(units: layout.backwardUnits, bucketBytes: 4).count, layout.count, "one float per bucket")
        XCTAssertEqual(GradientBuckets.plan(units: layout.backwardUnits, bucketBytes: 1 << 30).count, 2, "the table, then the rest")
        let pieces = GradientBuckets.plan(units: [0..<10], bucketBytes: 16).map(\.range)
        XCTAssertEqual(pieces, [6..<10, 2..<6, 0..<2])
        XCTAssertEqual(GradientBuckets.plan(units: [4..<10, 0..<4], bucketBytes: 16).map(\.range), [6..<10, 0..<6],
                       "the unit below joins the last piece, which is under the cap")
    }

    /// MPI_Init found atelier's OpenMPI settings in the environment (none of them set by the test's caller).
    /// Open MPI uses atelier's transport settings: each one read back from the library itself
    /// (MPI_T control variables), not from the environment atelier wrote them to.
    func testTransportDefaultsAreWhatMPIUses() throws {
        _ = try Communicator.world()
        XCTAssertEqual(Communicator.transportDefaults.count, 4)
        for (variable, value) in Communicator.transportDefaults {
            let name = String(variable.dropFirst("OMPI_MCA_".count))
            XCTAssertEqual(try Communicator.controlVariable(name), Int(value), name)
        }
        // the reader tells a parameter atelier leaves alone from one it set, and knows no made-up name
        XCTAssertEqual(try Communicator.controlVariable("btl_tcp_rndv_eager_limit"), 65536)
        XCTAssertNil(try Communicator.controlVariable("atelier_no_such_parameter"))
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

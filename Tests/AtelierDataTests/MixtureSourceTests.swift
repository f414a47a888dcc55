import AtelierData
import AtelierJob
import Foundation
import XCTest

final class MixtureSourceTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mix-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A dataset whose tokens all equal `marker` (so a sample tells where it came from), of
    /// `documents` documents of `length` tokens.
    func dataset(_ name: String, marker: Int32, documents: Int, length: Int = 50) throws -> String {
        let prefix = dir.appendingPathComponent(name).path
        try IndexedDataset.write(prefix: prefix, documents: Array(repeating: Array(repeating: marker, count: length), count: documents), type: .uint16)
        return prefix
    }

    func origins(_ m: MixtureSource, count: Int) throws -> [Int32: Int] {
        var seen: [Int32: Int] = [:]
        var inputs = [Int32](repeating: 0, count: m.sequenceLength), targets = inputs
        for i in 0..<count {
            try m.fill(sample: i, inputs: &inputs, targets: &targets)
            seen[inputs[0], default: 0] += 1
        }
        return seen
    }

    func testExplicitWeightsAreHonoured() throws {
        let a = try dataset("a", marker: 10, documents: 400), b = try dataset("b", marker: 20, documents: 100), c = try dataset("c", marker: 30, documents: 20)
        let m = try MixtureSource(datasets: [("a", a, 0.5), ("b", b, 0.3), ("c", c, 0.2)], alpha: nil, validationFraction: 0.1,
                                  sequenceLength: 16, vocabularySize: 64, seed: 7, file: "j.toml")
        let n = m.sampleCount
        let seen = try origins(m, count: n)
        // the blending is deterministic: every prefix is within one sample of its share
        XCTAssertEqual(Double(seen[10]!), 0.5 * Double(n), accuracy: 1)
        XCTAssertEqual(Double(seen[20]!), 0.3 * Double(n), accuracy: 1)
        XCTAssertEqual(Double(seen[30]!), 0.2 * Double(n), accuracy: 1)
        // a small dataset is repeated: c has 18 training documents (2 held out) but 20% of the samples
        XCTAssertEqual(m.components[2].validationWindows, (2 * 50 - 1) / 16)
        XCTAssertGreaterThan(seen[30]!, m.components[2].trainWindows)
    }

    /// p_i ~ n_i^alpha over many draws of the sample order (which is what training reads).
    func testAlphaSmoothingOverManyDraws() throws {
        let a = try dataset("a", marker: 1, documents: 900), b = try dataset("b", marker: 2, documents: 100)
        let m = try MixtureSource(datasets: [("a", a, nil), ("b", b, nil)], alpha: 0.3, validationFraction: 0,
                                  sequenceLength: 16, vocabularySize: 64, seed: 3, file: "j.toml")
        let (na, nb) = (Double(m.components[0].trainRangeCount), Double(m.components[1].trainRangeCount))
        let expected = pow(nb, 0.3) / (pow(na, 0.3) + pow(nb, 0.3))
        XCTAssertEqual(m.components[1].weight, expected, accuracy: 1e-12)
        let order = SampleOrder(sampleCount: m.sampleCount, seed: 11)
        var fromB = 0
        let draws = 2000
        var inputs = [Int32](repeating: 0, count: 16), targets = inputs
        for position in 0..<draws {
            try m.fill(sample: order.sample(at: position), inputs: &inputs, targets: &targets)
            if inputs[0] == 2 { fromB += 1 }
        }
        let sigma = (expected * (1 - expected) / Double(draws)).squareRoot()
        XCTAssertEqual(Double(fromB) / Double(draws), expected, accuracy: 4 * sigma)
    }

    func testBadMixturesNameTheField() throws {
        let a = try dataset("a", marker: 1, documents: 10)
        XCTAssertThrowsError(try MixtureSource(datasets: [("a", a, 1), ("b", a, nil)], alpha: nil, validationFraction: 0, sequenceLength: 16, vocabularySize: 64, seed: 1, file: "j.toml")) {
            XCTAssertTrue("\($0)".contains("data.datasets"), "\($0)")
        }
        XCTAssertThrowsError(try MixtureSource(datasets: [("a", a, 1)], alpha: 0.3, validationFraction: 0, sequenceLength: 16, vocabularySize: 64, seed: 1, file: "j.toml")) {
            XCTAssertTrue("\($0)".contains("data.alpha"), "\($0)")
        }
        XCTAssertThrowsError(try MixtureSource(datasets: [("a", dir.appendingPathComponent("none").path, nil)], alpha: nil, validationFraction: 0, sequenceLength: 16, vocabularySize: 64, seed: 1, file: "j.toml")) {
            XCTAssertTrue("\($0)".contains("none.idx"), "\($0)")
        }
        XCTAssertThrowsError(try MixtureSource(datasets: [("a", a, nil)], alpha: nil, validationFraction: 0, sequenceLength: 1000, vocabularySize: 64, seed: 1, file: "j.toml")) {
            XCTAssertTrue("\($0)".contains("fewer than one sample"), "\($0)")
        }
    }
}

final class MixtureBlendTests: XCTestCase {
    /// Lookups replayed from the kept counts give exactly the one-pass assignment, across many
    /// kept points, with ties and shares that are not round numbers.
    func testLookupsMatchOnePass() {
        for weights in [[0.5, 0.3, 0.2], [1.0 / 3, 1.0 / 3, 1.0 / 3], [0.999, 0.001], [1.0]] {
            let n = 5000
            let blend = MixtureBlend(weights: weights, sampleCount: n)
            var counts = [Int](repeating: 0, count: weights.count)
            for i in 0..<n {
                var best = 0, bestError = -Double.infinity
                for d in 0..<weights.count where weights[d] * Double(i + 1) - Double(counts[d]) > bestError {
                    bestError = weights[d] * Double(i + 1) - Double(counts[d])
                    best = d
                }
                let got = blend.source(of: i)
                XCTAssertTrue(got.dataset == best && got.occurrence == counts[best], "\(weights) sample \(i): \(got)")
                counts[best] += 1
            }
            for (count, weight) in zip(counts, weights) { XCTAssertEqual(Double(count), weight * Double(n), accuracy: 1) }
        }
    }
}

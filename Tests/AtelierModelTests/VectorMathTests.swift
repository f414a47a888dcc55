@testable import AtelierModel
import Foundation
import XCTest

/// The 16-lane exp and tanh under every kernel, and the loop helper's tail: values against the C
/// library's, the edge cases a masked key or a broken step produces, and lengths that are not a
/// multiple of 16.
final class VectorMathTests: XCTestCase {
    func testExpMatchesTheLibraryAndKeepsItsEdgeCases() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            var v = Vec()
            for lane in 0..<16 { v[lane] = x + Float(lane) * 0.0137 }
            let e = vexp(v)
            for lane in 0..<16 where v[lane] < 88.5 {
                let exact = Float(Foundation.exp(Double(v[lane])))
                worst = max(worst, abs(e[lane] - exact) / exact)
            }
            x += 0.219
        }
        XCTAssertLessThan(worst, 3e-7, "relative error of vexp over [-87, 88.5]")

        var edges = Vec(repeating: 1)
        edges[0] = .nan; edges[1] = -.infinity; edges[2] = .infinity; edges[3] = -100; edges[4] = 100; edges[5] = 0
        let e = vexp(edges)
        XCTAssertTrue(e[0].isNaN, "NaN must stay NaN: a broken step has to show in the loss")
        XCTAssertEqual(e[1], 0, "exp(-inf) is exactly 0: masked keys")
        XCTAssertEqual(e[2], .infinity)
        XCTAssertEqual(e[3], 0)
        XCTAssertEqual(e[4], .infinity)
        XCTAssertEqual(e[5], 1)
        XCTAssertEqual(e[6], Float(M_E), accuracy: 1e-6)
    }

    func testTanhMatchesTheLibrary() {
        var worst: Float = 0
        for k in 0..<4000 {
            var v = Vec()
            for lane in 0..<16 { v[lane] = Float(k - 2000) * 0.005 + Float(lane) * 0.0003 }
            let t = vtanh(v)
            for lane in 0..<16 { worst = max(worst, abs(t[lane] - Float(Foundation.tanh(Double(v[lane]))))) }
        }
        XCTAssertLessThan(worst, 1e-6, "absolute error of vtanh over [-10, 10]")
    }

    /// Every element is visited once, whole vectors and the tail alike, for lengths around the
    /// vector width; the tail's padding lanes are neither read nor written.
    func testForEachVectorVisitsEveryElementOnce() {
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n + 16)
            defer { buffer.deallocate() }
            for i in 0..<(n + 16) { buffer[i] = i < n ? Float(i) : -1 }
            @_transparent func double(_ i: Int, _ lanes: Int) { store(load(buffer + i, count: lanes) * 2, buffer + i, count: lanes) }
            forEachVector(n, double)
            for i in 0..<n { XCTAssertEqual(buffer[i], Float(2 * i), "n \(n), element \(i)") }
            for i in n..<(n + 16) { XCTAssertEqual(buffer[i], -1, "n \(n): padding \(i) written") }
        }
    }
}

import AtelierCore
import AtelierCheckpoint
import AtelierJob
import AtelierModel
import Foundation
import HDF5
import XCTest

/// The moments moved window by window (ZeRO stage 1's saves and loads): the same file as a save
/// from whole buffers, and windows that read back exactly what was written.
final class MomentWindowsTests: XCTestCase {
    // fc1 [4C, C] = [512, 128] is 65536 floats; the embedding [V, C] = [9000, 128] is 1.15M floats,
    // more than one HDF5 chunk (1M elements: 8192 rows of 128).
    let shape = ModelShape(vocabSize: 9000, hiddenSize: 128, layers: 2, heads: 4, sequenceLength: 16)
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-windows-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testWindowsCoverTheParametersInWholeChunks() {
        let layout = ParameterLayout(shape: shape)
        for maxFloats in [1, 100_000, 1 << 20, MomentWindows.defaultMaxFloats] {
            let windows = MomentWindows.plan(layout: layout, maxFloats: maxFloats)
            var next = 0
            for window in windows {
                XCTAssertEqual(window.range.lowerBound, next)
                XCTAssertEqual(window.pieces.first?.flat.lowerBound, window.range.lowerBound)
                XCTAssertEqual(window.pieces.last?.flat.upperBound, window.range.upperBound)
                // several pieces only when they fit; a single chunk may be larger than maxFloats
                if window.pieces.count > 1 || window.pieces[0].rows.count > H5File.chunkRows(layout.tensors[window.pieces[0].tensor].shape) {
                    XCTAssertLessThanOrEqual(window.range.count, maxFloats)
                }
                for piece in window.pieces {
                    let t = layout.tensors[piece.tensor], row = max(1, t.shape.dropFirst().reduce(1, *))
                    XCTAssertEqual(piece.flat, (t.offset + piece.rows.lowerBound * row)..<(t.offset + piece.rows.upperBound * row))
                    XCTAssertTrue(piece.rows.lowerBound % H5File.chunkRows(t.shape) == 0, "pieces start on a chunk")
                }
                next = window.range.upperBound
            }
            XCTAssertEqual(next, layout.count, "maxFloats \(maxFloats)")
        }
        // the embedding's two chunks are two windows at the default size, the small tensors share windows
        let windows = MomentWindows.plan(layout: layout)
        XCTAssertLessThan(windows.count, layout.tensors.count)
        XCTAssertEqual(MomentWindows.largest(layout: layout), windows.map(\.range.count).max())
    }

    func testWindowedSaveEqualsTheWholeBuffersSaveAndReadsBackByWindow() throws {
        let layout = ParameterLayout(shape: shape)
        let params = FloatBuffer(count: layout.count), m = FloatBuffer(count: layout.count), v = FloatBuffer(count: layout.count)
        layout.initialize(params, seed: 5)
        for i in 0..<layout.count { m[i] = Float(i % 101) * 1e-3 - 0.05; v[i] = Float(i % 37) * 1e-6 }
        var counters = TrainingCounters()
        counters.iteration = 7; counters.optimizerStep = 7
        let whole = dir.appendingPathComponent("whole.h5").path, windowed = dir.appendingPathComponent("windowed.h5").path
        try CheckpointFile.write(path: whole, layout: layout, params: params, expAvg: m, expAvgSq: v, counters: counters,
                                 jobText: "name = \"w\"\n", worldSize: 2, programVersion: "test")
        var filled: [Range<Int>] = []
        try CheckpointFile.write(path: windowed, layout: layout, params: params,
                                 moments: .windows(maxFloats: 300_000) { window, wm, wv in
                                     filled.append(window.range)
                                     wm.update(from: m.base + window.range.lowerBound, count: window.range.count)
                                     wv.update(from: v.base + window.range.lowerBound, count: window.range.count)
                                 },
                                 counters: counters, jobText: "name = \"w\"\n", worldSize: 2, programVersion: "test")
        XCTAssertEqual(filled, MomentWindows.plan(layout: layout, maxFloats: 300_000).map(\.range), "windows filled once each, in order")
        // both files read back to the same bits
        for path in [whole, windowed] {
            let p2 = FloatBuffer(count: layout.count), m2 = FloatBuffer(count: layout.count), v2 = FloatBuffer(count: layout.count)
            let info = try CheckpointFile.read(path: path, layout: layout, params: p2, expAvg: m2, expAvgSq: v2)
            XCTAssertEqual(info.counters, counters)
            XCTAssertEqual(memcmp(p2.base, params.base, params.bytes), 0, path)
            XCTAssertEqual(memcmp(m2.base, m.base, m.bytes), 0, path)
            XCTAssertEqual(memcmp(v2.base, v.base, v.bytes), 0, path)
        }
        XCTAssertEqual(try CheckpointSummary.verify(path: windowed).tensors.count, layout.tensors.count)
        // the windowed reader (a sharded load), on either file: every window's m and v, at another
        // window size than the save's
        for path in [whole, windowed] {
            let reader = try MomentWindows.Reader(path: path, layout: layout)
            defer { reader.close() }
            for window in MomentWindows.plan(layout: layout) {
                var wm = [Float](repeating: .nan, count: window.range.count), wv = wm
                try reader.read(window, expAvg: &wm, expAvgSq: &wv)
                XCTAssertEqual(wm, Array(UnsafeBufferPointer(start: m.base + window.range.lowerBound, count: window.range.count)), path)
                XCTAssertEqual(wv, Array(UnsafeBufferPointer(start: v.base + window.range.lowerBound, count: window.range.count)), path)
            }
        }
    }
}

import AtelierCore
import AtelierCheckpoint
import AtelierJob
import AtelierModel
import Foundation
import HDF5
import XCTest

final class CheckpointFileTests: XCTestCase {
    let shape = ModelShape(vocabSize: 300, hiddenSize: 32, layers: 2, heads: 4, sequenceLength: 16)
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-ckpt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    struct State {
        let layout: ParameterLayout
        let params, m, v: FloatBuffer
    }

    func makeState(seed: UInt64) -> State {
        let layout = ParameterLayout(shape: shape)
        let s = State(layout: layout, params: FloatBuffer(count: layout.count), m: FloatBuffer(count: layout.count), v: FloatBuffer(count: layout.count))
        layout.initialize(s.params, seed: seed)
        for i in 0..<layout.count { s.m[i] = Float(i % 13) * 1e-3; s.v[i] = Float(i % 7) * 1e-6 }
        return s
    }

    func counters() -> TrainingCounters {
        var c = TrainingCounters()
        c.iteration = 42; c.consumedSamples = 672; c.consumedTokens = 10752; c.skippedIterations = 1; c.optimizerStep = 41
        return c
    }

    func write(_ s: State, to path: String) throws {
        try CheckpointFile.write(path: path, layout: s.layout, params: s.params, expAvg: s.m, expAvgSq: s.v,
                                 counters: counters(), jobText: "name = \"t\"\n", worldSize: 4, programVersion: "test")
    }

    /// Named numbers (the accounting totals) come back with their names; the counters' one packing round-trips.
    func testNamedNumbersAndCountersRoundTrip() throws {
        let s = makeState(seed: 3)
        let path = dir.appendingPathComponent("named.h5").path
        let numbers = NamedNumbers(names: ["energy_kwh", "emissions_kg"], values: [1.5, 0.25])
        try CheckpointFile.write(path: path, layout: s.layout, params: s.params, expAvg: s.m, expAvgSq: s.v, counters: counters(),
                                 jobText: "", worldSize: 1, programVersion: "test", accounting: numbers)
        let info = try CheckpointFile.read(path: path, layout: s.layout, params: s.params, expAvg: nil, expAvgSq: nil)
        XCTAssertEqual(info.accounting, numbers)
        XCTAssertEqual(info.accounting["emissions_kg"], 0.25)
        XCTAssertEqual(counters().packed, [42, 672, 10752, 1, 0, 41])
        XCTAssertEqual(TrainingCounters(packed: counters().packed), counters())
        XCTAssertNil(TrainingCounters(packed: [1, 2, 3]))
        XCTAssertNil(TrainingCounters(packed: [1, 2, 3, 4, 5, -6]))
    }

    func testRoundTripIsBitExact() throws {
        let saved = makeState(seed: 1)
        let path = dir.appendingPathComponent("a.h5").path
        try write(saved, to: path)
        let loaded = makeState(seed: 2)
        let info = try CheckpointFile.read(path: path, layout: loaded.layout, params: loaded.params, expAvg: loaded.m, expAvgSq: loaded.v)
        XCTAssertEqual(memcmp(saved.params.base, loaded.params.base, saved.params.bytes), 0)
        XCTAssertEqual(memcmp(saved.m.base, loaded.m.base, saved.m.bytes), 0)
        XCTAssertEqual(memcmp(saved.v.base, loaded.v.base, saved.v.bytes), 0)
        XCTAssertEqual(info.counters, counters())
        XCTAssertEqual(info.worldSizeAtSave, 4)
        XCTAssertEqual(info.jobText, "name = \"t\"\n")
        // the file is plain HDF5 with Hugging Face names and shapes
        let file = try H5File.open(path)
        XCTAssertEqual(try file.shape("/model/transformer.h.1.mlp.dense_h_to_4h.weight", kind: .float32), [128, 32])
        XCTAssertEqual(try file.shape("/optimizer/exp_avg_sq/transformer.word_embeddings.weight", kind: .float32), [300, 32])
        try file.close()
    }

    func testModelShapeMismatchIsRefusedByName() throws {
        let path = dir.appendingPathComponent("a.h5").path
        try write(makeState(seed: 1), to: path)
        let other = ModelShape(vocabSize: 300, hiddenSize: 32, layers: 3, heads: 4, sequenceLength: 16)
        let layout = ParameterLayout(shape: other)
        let b = FloatBuffer(count: layout.count)
        XCTAssertThrowsError(try CheckpointFile.read(path: path, layout: layout, params: b, expAvg: b, expAvgSq: b)) { error in
            XCTAssertTrue("\(error)".contains("the checkpoint's model.layers is 2 but the job says 3"), "\(error)")
        }
    }

    func testDamagedFilesGiveErrorsNamingFileAndDataset() throws {
        let saved = makeState(seed: 1)
        let path = dir.appendingPathComponent("a.h5").path
        try write(saved, to: path)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let target = makeState(seed: 3)
        func load(_ bytes: Data) -> String {
            let damaged = dir.appendingPathComponent("damaged.h5").path
            try? bytes.write(to: URL(fileURLWithPath: damaged))
            do {
                _ = try CheckpointFile.read(path: damaged, layout: target.layout, params: target.params, expAvg: target.m, expAvgSq: target.v)
                return "loaded"
            } catch { return "\(error)" }
        }
        // truncated: at several lengths
        for fraction in [0.1, 0.5, 0.9, 0.999] {
            let message = load(original.prefix(Int(Double(original.count) * fraction)))
            XCTAssertNotEqual(message, "loaded", "truncated at \(fraction)")
            XCTAssertTrue(message.contains("damaged.h5"), message)
        }
        // flipped bits inside tensor data: Fletcher32 catches them, naming the dataset
        var flipped = original
        for offset in stride(from: original.count / 3, to: original.count * 2 / 3, by: 50_000) { flipped[offset] ^= 0x10 }
        let message = load(flipped)
        XCTAssertTrue(message.contains("damaged.h5: dataset '/"), message)
        XCTAssertTrue(message.contains("checksum mismatch or damaged data"), message)
        // not HDF5 at all
        XCTAssertTrue(load(Data("{\"not\": \"hdf5\"}".utf8)).contains("not a readable HDF5 file"))
    }

    func testMissingDatasetWrongDtypeAndUnknownVersion() throws {
        let layout = ParameterLayout(shape: shape)
        let b = FloatBuffer(count: layout.count)
        func read(_ build: (H5File) throws -> Void) -> String {
            let path = dir.appendingPathComponent("h\(UInt32.random(in: 0...UInt32.max)).h5").path
            do {
                let f = try H5File.create(path)
                try build(f)
                try f.close()
                _ = try CheckpointFile.read(path: path, layout: layout, params: b, expAvg: b, expAvgSq: b)
                return "loaded"
            } catch { return "\(error)" }
        }
        let config: [Int64] = [300, 32, 2, 4, 16]
        XCTAssertTrue(read { try $0.write("/x", int64: [1]) }.contains("not an atelier checkpoint"))
        XCTAssertTrue(read { try $0.write("/meta/format_version", int64: [99]) }.contains("format version 99 is not one this atelier reads"))
        let missing = read { f in
            try f.write("/meta/format_version", int64: [1])
            try f.write("/config/model", int64: config)
            try f.write("/state/counters", int64: [1, 2, 3, 0, 0, 1])
        }
        XCTAssertTrue(missing.contains("dataset '/model/transformer.word_embeddings.weight': is missing"), missing)
        let wrongType = read { f in
            try f.write("/meta/format_version", int64: [1])
            try f.write("/config/model", int64: config)
            try f.write("/state/counters", int64: [1, 2, 3, 0, 0, 1])
            try f.write("/model/transformer.word_embeddings.weight", int64: [1, 2, 3])
        }
        XCTAssertTrue(wrongType.contains("holds the wrong element type (expected little-endian float32)"), wrongType)
        let wrongShape = read { f in
            try f.write("/meta/format_version", int64: [1])
            try f.write("/config/model", int64: config)
            try f.write("/state/counters", int64: [1, 2, 3, 0, 0, 1])
            let small: [Float] = [1, 2, 3, 4]
            try f.write("/model/transformer.word_embeddings.weight", shape: [2, 2], floats: small)
        }
        XCTAssertTrue(wrongShape.contains("has shape [2, 2], expected [300, 32]"), wrongShape)
        let badCounters = read { f in
            try f.write("/meta/format_version", int64: [1])
            try f.write("/config/model", int64: config)
            try f.write("/state/counters", int64: [1, -2, 3, 0, 0, 1])
        }
        XCTAssertTrue(badCounters.contains("dataset '/state/counters': [1, -2, 3, 0, 0, 1] are not 6 non-negative integers"), badCounters)
    }

    func testDirectoryPointsLatestAtCompleteFilesAndKeepsWhatRetentionSays() throws {
        let checkpoints = CheckpointDirectory(runDirectory: dir.path)
        let s = makeState(seed: 1)
        for iteration in stride(from: 10, through: 70, by: 10) {
            try checkpoints.save(iteration: iteration, keepLast: 2, keepEvery: 30) { try write(s, to: $0) }
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        XCTAssertEqual(names, ["iter_0000030.h5", "iter_0000060.h5", "iter_0000070.h5", "latest"])
        XCTAssertEqual(try String(contentsOfFile: checkpoints.path + "/latest", encoding: .utf8), "iter_0000070.h5\n")
        XCTAssertEqual(checkpoints.candidates().map { URL(fileURLWithPath: $0).lastPathComponent },
                       ["iter_0000070.h5", "iter_0000060.h5", "iter_0000030.h5"])
        // a write that fails leaves no file behind and `latest` unchanged
        XCTAssertThrowsError(try checkpoints.save(iteration: 80, keepLast: 2, keepEvery: 0) { path in
            try Data("partial".utf8).write(to: URL(fileURLWithPath: path))
            throw POSIXFailure(call: "write", path: path, code: ENOSPC)
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted(),
                       ["iter_0000030.h5", "iter_0000060.h5", "iter_0000070.h5", "latest"])
        XCTAssertEqual(try String(contentsOfFile: checkpoints.path + "/latest", encoding: .utf8), "iter_0000070.h5\n")
    }
}

/// The direct chunk reader (pread + our Fletcher32) against HDF5's own pipeline, on a tensor whose
/// last chunk is zero-padded.
final class DirectChunkTests: XCTestCase {
    func testDirectChunksMatchHDF5sPipeline() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-chunks-\(getpid()).h5").path
        defer { unlink(path) }
        let rows = 3000, columns = 512   // 2048 rows per chunk: the second chunk is zero-padded
        let values = (0..<(rows * columns)).map { Float(sin(Double($0) * 0.001)) }
        let file = try H5File.create(path)
        try file.write("/t", shape: [rows, columns], floats: values)
        try file.close()
        let reopened = try H5File.open(path)
        defer { try? reopened.close() }
        var throughHDF5 = [Float](repeating: 0, count: rows * columns)
        try reopened.read("/t", shape: [rows, columns], into: &throughHDF5)
        var direct = [Float](repeating: 0, count: rows * columns)
        try reopened.readVerified("/t", shape: [rows, columns], into: &direct)
        XCTAssertEqual(throughHDF5, values)
        XCTAssertEqual(direct, values)
    }

    /// Chunks written whole (`writeVerified`: our copy, padding and Fletcher32) read back through
    /// HDF5's own filter pipeline, which verifies each checksum, and through the direct reader;
    /// one flipped byte in a chunk is caught by both.
    func testDirectlyWrittenChunksPassHDF5sChecksum() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-wchunks-\(getpid()).h5").path
        defer { unlink(path) }
        let rows = 3000, columns = 512
        let values = (0..<(rows * columns)).map { Float(cos(Double($0) * 0.003)) }
        let small: [Float] = [1, 2, 3]
        let file = try H5File.create(path)
        try values.withUnsafeBufferPointer { v in
            try small.withUnsafeBufferPointer { s in
                try file.writeVerified([FloatDatasetWrite(name: "/a/t", shape: [rows, columns], source: v.baseAddress!),
                                        FloatDatasetWrite(name: "/b", shape: [3], source: s.baseAddress!)])
            }
        }
        try file.close()
        do {
            let reopened = try H5File.open(path)
            defer { try? reopened.close() }
            var throughHDF5 = [Float](repeating: 0, count: rows * columns)
            try reopened.read("/a/t", shape: [rows, columns], into: &throughHDF5)
            XCTAssertEqual(throughHDF5, values)
            var direct = [Float](repeating: 0, count: rows * columns)
            try reopened.readVerified("/a/t", shape: [rows, columns], into: &direct)
            XCTAssertEqual(direct, values)
            var b = [Float](repeating: 0, count: 3)
            try reopened.read("/b", shape: [3], into: &b)
            XCTAssertEqual(b, small)
        }
        // flip one byte in the middle of the big dataset's data
        let fd = open(path, O_RDWR)
        let size = lseek(fd, 0, SEEK_END)
        var byte: UInt8 = 0
        pread(fd, &byte, 1, size / 2)
        byte ^= 0x10
        pwrite(fd, &byte, 1, size / 2)
        close(fd)
        let damaged = try H5File.open(path)
        defer { try? damaged.close() }
        var out = [Float](repeating: 0, count: rows * columns)
        XCTAssertThrowsError(try damaged.read("/a/t", shape: [rows, columns], into: &out))
        XCTAssertThrowsError(try damaged.readVerified("/a/t", shape: [rows, columns], into: &out)) { error in
            XCTAssertTrue("\(error)".contains("checksum"), "\(error)")
        }
    }

    /// The vectorised Fletcher32 against a transcription of HDF5's scalar loop
    /// (H5_checksum_fletcher32), at every length across block boundaries, including odd ones.
    func testFletcher32MatchesHDF5sLoopAtEveryLength() {
        func reference(_ bytes: [UInt8]) -> UInt32 {
            var sum1: UInt32 = 0, sum2: UInt32 = 0, p = 0, words = bytes.count / 2
            while words > 0 {
                let block = min(words, 360)
                words -= block
                for _ in 0..<block {
                    sum1 &+= UInt32(bytes[p]) << 8 | UInt32(bytes[p + 1]); p += 2
                    sum2 &+= sum1
                }
                sum1 = (sum1 & 0xffff) &+ (sum1 >> 16); sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
            }
            if bytes.count % 2 == 1 {
                sum1 &+= UInt32(bytes[p]) << 8; sum2 &+= sum1
                sum1 = (sum1 & 0xffff) &+ (sum1 >> 16); sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
            }
            sum1 = (sum1 & 0xffff) &+ (sum1 >> 16); sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
            return sum2 << 16 | sum1
        }
        var random = SeededRandom(seed: 7)
        let data = (0..<6000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let saturated = [UInt8](repeating: 0xff, count: 6000)
        for bytes in [data, saturated] {
            for count in Array(0..<1500) + [2159, 2160, 2161, 4319, 4320, 6000] {
                let prefix = Array(bytes[0..<count])
                XCTAssertEqual(prefix.withUnsafeBytes { fletcher32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count) },
                               reference(prefix), "length \(count)")
            }
        }
    }
}

extension CheckpointFileTests {
    /// The texts a checkpoint carries for other stages (lineage, newest validation) come back as
    /// written, from a full read and from the metadata-only read; a file without them has none.
    func testCarriedTextsRoundTrip() throws {
        let s = makeState(seed: 5)
        let path = dir.appendingPathComponent("carried.h5").path
        let carried = CarriedTexts(lineage: #"{"name": "tiny", "ancestors": []}"#, validation: #"{"iteration": 42, "results": []}"#)
        try CheckpointFile.write(path: path, layout: s.layout, params: s.params, expAvg: s.m, expAvgSq: s.v, counters: counters(),
                                 jobText: "name = \"t\"\n", worldSize: 1, programVersion: "test", carried: carried)
        XCTAssertEqual(try CheckpointFile.read(path: path, layout: s.layout, params: s.params, expAvg: nil, expAvgSq: nil).carried, carried)
        let info = try CheckpointFile.readInfo(path: path)
        XCTAssertEqual(info.carried, carried)
        XCTAssertEqual(info.counters, counters())
        let plain = dir.appendingPathComponent("plain.h5").path
        try write(s, to: plain)
        XCTAssertEqual(try CheckpointFile.readInfo(path: plain).carried, CarriedTexts())
    }
}

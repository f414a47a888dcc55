import AtelierData
import Foundation
import XCTest

final class IndexedDatasetTests: XCTestCase {
    /// Two documents, [5, 6, 2] and [7, 2], against bytes written out by hand from Megatron-LM's
    /// `_IndexWriter`: magic, version 1, dtype 8 (uint16), 2 sequences, 3 document entries,
    /// sizes int32, pointers int64 (bytes), document index int64.
    func testBytesMatchAHandBuiltExample() throws {
        let idx = IndexedDataset.indexBytes(lengths: [3, 2], type: .uint16)
        let expected: [UInt8] = [0x4D, 0x4D, 0x49, 0x44, 0x49, 0x44, 0x58, 0x00, 0x00,   // "MMIDIDX\0\0"
                                 1, 0, 0, 0, 0, 0, 0, 0,                                  // version 1
                                 8,                                                       // uint16
                                 2, 0, 0, 0, 0, 0, 0, 0,                                  // sequences
                                 3, 0, 0, 0, 0, 0, 0, 0,                                  // document entries
                                 3, 0, 0, 0, 2, 0, 0, 0,                                  // sizes
                                 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0,          // pointers (bytes)
                                 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]  // doc index
        XCTAssertEqual(Array(idx), expected)
        let bin = IndexedDataset.tokenBytes([5, 6, 2], type: .uint16) + IndexedDataset.tokenBytes([7, 2], type: .uint16)
        XCTAssertEqual(Array(bin), [5, 0, 6, 0, 2, 0, 7, 0, 2, 0])
        XCTAssertEqual(Array(IndexedDataset.tokenBytes([70000], type: .int32)), [0x70, 0x11, 0x01, 0x00])
        XCTAssertEqual(IndexedDataset.TokenType.forVocabulary(65_499), .uint16)
        XCTAssertEqual(IndexedDataset.TokenType.forVocabulary(65_500), .int32)
    }

    func testRoundTripAndHostileFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = dir.appendingPathComponent("d").path
        try IndexedDataset.write(prefix: prefix, documents: [[5, 6, 2], [7, 2], []], type: .int32)
        let r = try IndexedDatasetReader(prefix: prefix)
        XCTAssertEqual([r.sequenceCount, r.documentCount, r.tokenCount], [3, 3, 5])
        XCTAssertEqual((0..<3).map(r.sequenceLength), [3, 2, 0])
        XCTAssertEqual((0...3).map(r.documentStart), [0, 3, 5, 5])
        XCTAssertEqual((0..<5).map(r.token(at:)), [5, 6, 2, 7, 2])
        let idx = try Data(contentsOf: URL(fileURLWithPath: prefix + ".idx"))
        let bin = try Data(contentsOf: URL(fileURLWithPath: prefix + ".bin"))
        let cases: [(String, Data, Data, String)] = [
            ("truncated index", idx.prefix(idx.count - 3), bin, ".idx"),
            ("bad magic", Data([0x58]) + idx.dropFirst(), bin, "MMIDIDX"),
            ("short data", idx, bin.prefix(bin.count - 4), ".bin"),
            ("dtype", idx.prefix(17) + Data([6]) + idx.dropFirst(18), bin, "dtype"),
            ("huge count", idx.prefix(18) + Data([0, 0, 0, 0, 0, 0, 0, 0x7F]) + idx.dropFirst(26), bin, "sequences"),
            ("pointer", idx.prefix(34 + 12 + 8) + Data([4, 0, 0, 0, 0, 0, 0, 0]) + idx.dropFirst(34 + 12 + 16), bin, "sequence 1: size 2 at byte 4"),
            // document index [0, 1, 2, 3] -> [0, 2, 1, 3] (decreasing), and -> [0, 1, 2, 2] (not ending at 3)
            ("decreasing documents", idx.prefix(78) + Data([2, 0, 0, 0, 0, 0, 0, 0, 1]) + idx.dropFirst(87), bin, "document index entry 2 is 1"),
            ("short documents", idx.prefix(94) + Data([2]) + idx.dropFirst(95), bin, "document index entry 3 is 2"),
        ]
        for (name, badIdx, badBin, expected) in cases {
            try badIdx.write(to: URL(fileURLWithPath: prefix + ".idx"))
            try badBin.write(to: URL(fileURLWithPath: prefix + ".bin"))
            XCTAssertThrowsError(try IndexedDatasetReader(prefix: prefix), name) { e in
                XCTAssertTrue("\(e)".contains(prefix) && "\(e)".contains(expected), "\(name): \(e)")
            }
        }
    }

    /// Megatron's sentence-split layout: documents of several sequences. Sequences of 4, 5, 3 and 6
    /// tokens (uint16, tokens 0 to 17 in order); document 0 is sequences 0-2, document 1 is
    /// sequence 3: document index [0, 3, 4], bytes written out by hand.
    func testDocumentsOfSeveralSequences() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idx-multi-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = dir.appendingPathComponent("sentences").path
        let idx: [UInt8] = [0x4D, 0x4D, 0x49, 0x44, 0x49, 0x44, 0x58, 0x00, 0x00,   // "MMIDIDX\0\0"
                            1, 0, 0, 0, 0, 0, 0, 0,                                  // version 1
                            8,                                                       // uint16
                            4, 0, 0, 0, 0, 0, 0, 0,                                  // 4 sequences
                            3, 0, 0, 0, 0, 0, 0, 0,                                  // 3 document index entries
                            4, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0,          // sizes
                            0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0,          // pointers: 0, 8, 18, 24 bytes
                            18, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]  // document index
        try Data(idx).write(to: URL(fileURLWithPath: prefix + ".idx"))
        try Data((0..<18).flatMap { [UInt8($0), 0] }).write(to: URL(fileURLWithPath: prefix + ".bin"))
        let r = try IndexedDatasetReader(prefix: prefix)
        XCTAssertEqual([r.sequenceCount, r.documentCount, r.tokenCount], [4, 2, 18])
        XCTAssertEqual(r.documentSequences(0), 0..<3)
        XCTAssertEqual(r.documentSequences(1), 3..<4)
        XCTAssertEqual((0...2).map(r.documentStart), [0, 12, 18])
        XCTAssertEqual([0, 3, 4, 9, 11, 12, 17].map(r.sequence(containing:)), [0, 0, 1, 2, 2, 3, 3])
        // held out by documents: half of 2 documents is document 1, all of sequence 3 (one per
        // sequence would have held out sequences 2 and 3)
        let m = try MixtureSource(datasets: [("s", prefix, nil)], alpha: nil, validationFraction: 0.5, sequenceLength: 4,
                                  vocabularySize: 18, seed: 1, file: "j.toml")
        XCTAssertEqual(m.components[0].trainRangeCount, 12)
        XCTAssertEqual([m.components[0].trainWindows, m.components[0].validationWindows], [2, 1])
        var inputs = [Int32](repeating: 0, count: 4), targets = inputs
        try m.fillValidation(component: 0, window: 0, inputs: &inputs, targets: &targets)
        XCTAssertEqual(inputs, [12, 13, 14, 15])
        XCTAssertEqual(targets, [13, 14, 15, 16])
        var starts: [Int32] = []
        for sample in 0..<m.sampleCount {
            try m.fill(sample: sample, inputs: &inputs, targets: &targets)
            XCTAssertEqual(targets, inputs.map { $0 + 1 })
            starts.append(inputs[0])
        }
        XCTAssertEqual(starts.sorted(), [0, 4])
    }

    /// A token id the model has no embedding for is an error naming the file, the token's
    /// position, its sequence and the id, when the window holding it is read.
    func testTokensOutsideTheVocabularyAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idx-vocab-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (type, bad) in [(IndexedDataset.TokenType.uint16, Int32(60000)), (.int32, -3)] {
            let prefix = dir.appendingPathComponent("d\(type.rawValue)").path
            // windows of 4 + 1 tokens: [0, 5), [4, 9); token 6 (sequence 1) is bad
            try IndexedDataset.write(prefix: prefix, documents: [[5, 6, 7, 8, 9], [10, bad, 11, 2]], type: type)
            let m = try MixtureSource(datasets: [("d", prefix, nil)], alpha: nil, validationFraction: 0, sequenceLength: 4,
                                      vocabularySize: 4096, seed: 1, file: "j.toml")
            var inputs = [Int32](repeating: 0, count: 4), targets = inputs
            var errors: [String] = []
            for sample in 0..<m.sampleCount {
                do { try m.fill(sample: sample, inputs: &inputs, targets: &targets) } catch { errors.append("\(error)") }
            }
            XCTAssertEqual(m.sampleCount, 2)
            XCTAssertEqual(errors.count, 1, "\(errors)")
            XCTAssertTrue(errors.first?.hasPrefix("\(prefix).bin: token 6 (in sequence 1) has id \(bad), outside the model's vocabulary of 4096") == true,
                          "\(errors)")
        }
    }

    func testJSONLinesReportsBadLines() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jl-\(getpid()).jsonl").path
        defer { unlink(path) }
        var data = Data("{\"text\": \"bonjour\", \"lang\": \"fr\"}\nnot json\n{\"txt\": 1}\n\n".utf8)
        data += Data([0x7B, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D, 0x0A])   // {"text":"\xC3("}
        data += Data("{\"text\": \"hello\"}".utf8)
        try data.write(to: URL(fileURLWithPath: path))
        let (docs, bad) = try JSONLinesReader.read(path: path)
        XCTAssertEqual(docs.map(\.text), ["bonjour", "hello"])
        XCTAssertEqual(docs.map(\.language), ["fr", nil])
        XCTAssertEqual(docs.map(\.line), [1, 6])
        XCTAssertEqual(bad.map(\.line), [2, 3, 5])
        XCTAssertEqual(bad.map(\.problem), ["not a JSON object", "no string field \"text\"", "invalid UTF-8"])
        XCTAssertTrue(bad[0].description.hasPrefix(path + ":2:"))
    }
}

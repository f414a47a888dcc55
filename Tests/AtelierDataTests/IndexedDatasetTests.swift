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
        XCTAssertEqual(r.lengths, [3, 2, 0])
        XCTAssertEqual(r.offsets, [0, 3, 5])
        XCTAssertEqual(r.tokens, [5, 6, 2, 7, 2])
        let idx = try Data(contentsOf: URL(fileURLWithPath: prefix + ".idx"))
        let bin = try Data(contentsOf: URL(fileURLWithPath: prefix + ".bin"))
        let cases: [(String, Data, Data, String)] = [
            ("truncated index", idx.prefix(idx.count - 3), bin, ".idx"),
            ("bad magic", Data([0x58]) + idx.dropFirst(), bin, "MMIDIDX"),
            ("short data", idx, bin.prefix(bin.count - 4), ".bin"),
            ("dtype", idx.prefix(17) + Data([6]) + idx.dropFirst(18), bin, "dtype"),
            ("huge count", idx.prefix(18) + Data([0, 0, 0, 0, 0, 0, 0, 0x7F]) + idx.dropFirst(26), bin, "sequences"),
        ]
        for (name, badIdx, badBin, expected) in cases {
            try badIdx.write(to: URL(fileURLWithPath: prefix + ".idx"))
            try badBin.write(to: URL(fileURLWithPath: prefix + ".bin"))
            XCTAssertThrowsError(try IndexedDatasetReader(prefix: prefix), name) { e in
                XCTAssertTrue("\(e)".contains(prefix) && "\(e)".contains(expected), "\(name): \(e)")
            }
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

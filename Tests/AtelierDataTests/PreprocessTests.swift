import AtelierData
import AtelierTokenizer
import Foundation
import XCTest

/// `atelier preprocess`'s pieces, the ranks simulated in one process: byte ranges, streaming
/// tokenization into parts, the join.
final class PreprocessTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("pre-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// 40 documents in 2 languages and none, of 20 to 400 bytes, a blank line, 3 bad lines, and no
    /// newline after the last line.
    func corpus() throws -> (path: String, texts: [(String, String?)], bad: [Int]) {
        var lines: [String] = [], texts: [(String, String?)] = [], bad: [Int] = []
        for i in 0..<40 {
            if i == 7 { lines.append("{not json"); bad.append(lines.count) }
            if i == 19 { lines.append("") }
            if i == 33 { lines.append("{\"txt\": 1}"); bad.append(lines.count) }
            if i == 38 { lines.append("[1, 2]"); bad.append(lines.count) }
            let text = String(repeating: "Страница \(i) describes la commande, ", count: 1 + i * 7 % 12)
            let language: String? = i % 5 == 0 ? nil : (i % 2 == 0 ? "ru" : "en")
            var object: [String: String] = ["text": text]
            object["lang"] = language
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            texts.append((text, language))
        }
        let path = dir.appendingPathComponent("corpus.jsonl").path
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, texts, bad)
    }

    /// Each rank reads whole lines: the ranges tile the file and start at line starts.
    func testByteRangesTileTheFileAtLineStarts() throws {
        let (path, _, _) = try corpus()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for ranks in [1, 2, 3, 7, 200] {
            let ranges = try (0..<ranks).map { try Preprocess.byteRange(rank: $0, of: ranks, path: path) }
            XCTAssertEqual(ranges.first?.lowerBound, 0)
            XCTAssertEqual(ranges.last?.upperBound, bytes.count)
            for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
            for r in ranges where r.lowerBound > 0 && r.lowerBound < bytes.count { XCTAssertEqual(bytes[r.lowerBound - 1], 0x0A) }
        }
        XCTAssertEqual(try LineReader.lineStart(atOrAfter: 1, path: path, bufferSize: 3), bytes.firstIndex(of: 0x0A)! + 1)
    }

    /// 1, 2 and 3 ranks with 7-byte buffers (smaller than every line, document and record: every
    /// read, write and copy goes in pieces) give the files one
    /// writer holding every document would (`IndexedDataset.write`), byte for byte; bad lines are
    /// numbered in the whole file once each rank's line count before it is added.
    func testStreamingPartsJoinToTheSameBytesOnAnyNumberOfRanks() throws {
        let (path, texts, badLines) = try corpus()
        let tokenizer = try BPETrainer(vocabularySize: 300).train(documents: texts.map { ($0.0, $0.1) })
        let eod = tokenizer.specialIDs[tokenizer.specials.firstIndex(of: "</s>")!]
        // expected: every document in memory, grouped by language in file order
        let expectedPrefix = dir.appendingPathComponent("expected").path
        for language in ["en", "ru", "unknown"] {
            let documents = texts.filter { ($0.1 ?? "unknown") == language }.map { tokenizer.encode($0.0) + [eod] }
            try IndexedDataset.write(prefix: Preprocess.prefix(expectedPrefix, language: language), documents: documents, type: .uint16)
        }
        for ranks in [1, 2, 3] {
            let options = Preprocess.Options(input: path, tokenizer: "t.json", outputPrefix: dir.appendingPathComponent("out\(ranks)").path,
                                             byLanguage: true, maxBadFraction: 1, bufferSize: 7)
            var parts: [String] = [], globalBad: [Int] = [], lines = 0, documents = 0
            for rank in 0..<ranks {
                let part = options.outputPrefix + ".part-\(rank)"
                let summary = try Preprocess.tokenize(try Preprocess.byteRange(rank: rank, of: ranks, path: path), options: options,
                                                      tokenizer: tokenizer, eod: eod, type: .uint16, part: part)
                globalBad += summary.firstBad.map { $0.line + lines }
                lines += summary.lines
                documents += summary.documents
                parts.append(part)
            }
            XCTAssertEqual(globalBad, badLines, "\(ranks) ranks")
            XCTAssertEqual(lines, 44)
            XCTAssertEqual(documents, 40)
            let written = try Preprocess.join(parts: parts, options: options, type: .uint16)
            XCTAssertEqual(written.map(\.0), ["en", "ru", "unknown"].map { Preprocess.prefix(options.outputPrefix, language: $0) })
            XCTAssertEqual(written.map(\.1), [16, 16, 8])
            for language in ["en", "ru", "unknown"] {
                for ext in [".bin", ".idx"] {
                    let a = try Data(contentsOf: URL(fileURLWithPath: Preprocess.prefix(expectedPrefix, language: language) + ext))
                    let b = try Data(contentsOf: URL(fileURLWithPath: Preprocess.prefix(options.outputPrefix, language: language) + ext))
                    XCTAssertEqual(a, b, "\(ranks) ranks, \(language)\(ext)")
                }
            }
            parts.forEach(PreprocessPart.remove)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])
    }
}

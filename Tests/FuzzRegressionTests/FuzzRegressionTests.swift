import AtelierFuzz
import Foundation
import XCTest

/// Replays every kept fuzz input (Inputs/TARGET/: the seeds, and each crash the fuzzer found,
/// named crash-*) through its parser: none may crash, and the seeds, which are valid files,
/// must be accepted, so a parser that refused everything would fail here.
final class FuzzRegressionTests: XCTestCase {
    func inputs(_ target: FuzzTarget) throws -> [URL] {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Inputs", withExtension: nil)).appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    func testEveryKeptInputIsHandled() throws {
        defer { FuzzTarget.cleanUp() }
        for target in FuzzTarget.allCases {
            let files = try inputs(target)
            XCTAssertFalse(files.filter { $0.lastPathComponent.hasPrefix("seed-") }.isEmpty, "\(target.rawValue) has seeds")
            for file in files {
                let accepted = target.run(try Data(contentsOf: file))
                if file.lastPathComponent.hasPrefix("seed-") {
                    XCTAssertTrue(accepted, "\(target.rawValue)/\(file.lastPathComponent) is valid and must be accepted")
                }
            }
        }
    }

    /// Hand-made hostile inputs, one per kind of lie a file can tell about its sizes.
    func testHostileIndexedDatasetHeaders() throws {
        defer { FuzzTarget.cleanUp() }
        func packed(count: UInt64, docs: UInt64, extra: [UInt8] = [], bin: [UInt8] = []) -> Data {
            var idx = Array("MMIDIDX\0\0".utf8) + withUnsafeBytes(of: UInt64(1).littleEndian, Array.init) + [8]
            idx += withUnsafeBytes(of: count.littleEndian, Array.init) + withUnsafeBytes(of: docs.littleEndian, Array.init) + extra
            return Data(withUnsafeBytes(of: UInt32(idx.count).littleEndian, Array.init) + idx + bin)
        }
        XCTAssertFalse(FuzzTarget.indexedDataset.run(packed(count: UInt64.max, docs: 0)))        // overflowing counts
        XCTAssertFalse(FuzzTarget.indexedDataset.run(packed(count: 1 << 39, docs: (1 << 39) + 1)))   // counts past the file
        XCTAssertTrue(FuzzTarget.indexedDataset.run(packed(count: 0, docs: 1, extra: [UInt8](repeating: 0, count: 8))))
    }
}

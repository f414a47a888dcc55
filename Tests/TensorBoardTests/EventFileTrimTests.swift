import Foundation
import TensorBoard
import XCTest

final class EventFileTrimTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-tb-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A launch's file: version, START at 1, then loss at steps 1...last.
    func writeLaunch(_ name: String, last: Int) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let writer = try EventFileWriter(path: path, wallTime: 100)
        try writer.append(Event(wallTime: 100, step: 1, content: .sessionStart))
        for step in 1...last {
            try writer.append(Event(wallTime: 100 + Double(step), step: Int64(step), content: .scalars([Scalar(tag: "train/loss", value: Float(step))])))
        }
        writer.close()
        return path
    }

    func steps(_ path: String) throws -> [Int64] {
        let (payloads, damage) = TFRecord.records(in: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertNil(damage)
        return try payloads.map { try Event(decoding: $0).step }
    }

    func testKeepsThroughTheStepAndDropsATornEnd() throws {
        let path = try writeLaunch("events.out.tfevents.0000000100.host.1", last: 5)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        // half of a sixth record, as a launch killed mid-write leaves it
        let torn = TFRecord.framed(Event(wallTime: 106, step: 6, content: .scalars([Scalar(tag: "train/loss", value: 6)])).encoded)
        try (whole + Data(torn.prefix(torn.count / 2))).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(TFRecord.records(in: Array(try Data(contentsOf: URL(fileURLWithPath: path)))).damage?.offset, whole.count)

        guard case .rewritten(let dropped, let damage) = try EventFileTrim.keep(path: path, throughStep: 3) else { return XCTFail("not rewritten") }
        XCTAssertEqual(dropped, 2)
        XCTAssertEqual(damage?.offset, whole.count)
        XCTAssertEqual(try steps(path), [0, 1, 1, 2, 3])       // version, START, steps 1-3
        XCTAssertEqual(try EventFileTrim.keep(path: path, throughStep: 3), .unchanged)
        XCTAssertEqual(try EventFileTrim.keep(path: path, throughStep: 10), .unchanged)
        // nothing but the version and START left: the file goes
        XCTAssertEqual(try EventFileTrim.keep(path: path, throughStep: 0), .removed(dropped: 4, damage: nil))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    /// A flipped byte inside the third record: reading stops before it, so the trim keeps the
    /// version and START and drops the rest as damaged.
    func testDamagedChecksumStopsReading() throws {
        let path = try writeLaunch("events.out.tfevents.0000000100.host.2", last: 3)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let (payloads, _) = TFRecord.records(in: bytes)
        bytes[payloads[2].startIndex + 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (intact, damage) = TFRecord.records(in: bytes)
        XCTAssertEqual(intact.count, 2)
        XCTAssertEqual(damage, TFRecord.Damage(offset: payloads[2].startIndex - 12, reason: "the record's checksum does not match"))
        XCTAssertEqual(try EventFileTrim.keep(path: path, throughStep: 3), .removed(dropped: 0, damage: damage))
    }

    func testWriterNeverReplacesAFileAndNamesSortByTime() throws {
        let path = try writeLaunch("events.out.tfevents.0000000100.host.3", last: 1)
        XCTAssertThrowsError(try EventFileWriter(path: path, wallTime: 0)) { XCTAssertTrue("\($0)".contains("File exists"), "\($0)") }
        XCTAssertThrowsError(try EventFileTrim.keep(path: path + "-missing", throughStep: 1)) {
            XCTAssertTrue("\($0)".hasPrefix(path + "-missing: cannot read it"), "\($0)")
        }
        let name = EventFileName.make(seconds: 1_764_590_000, host: "node/1", pid: 42)
        XCTAssertEqual(name, "events.out.tfevents.1764590000.node_1.42")
        XCTAssertEqual(EventFileName.seconds(name), 1_764_590_000)
        XCTAssertTrue(EventFileName.isEventFile(name))
        XCTAssertLessThan(EventFileName.make(seconds: 99, host: "z", pid: 9), EventFileName.make(seconds: 100, host: "a", pid: 1))
    }
}

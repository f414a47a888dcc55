import AtelierTrain
import Foundation
import TensorBoard
import XCTest

final class TensorBoardLogTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-tblog-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        var all: [String] { lock.withLock { stored } }
        func add(_ line: String) { lock.withLock { stored.append(line) } }
    }

    func events(_ name: String) throws -> [Event] {
        let (payloads, damage) = TFRecord.records(in: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))))
        XCTAssertNil(damage)
        return try payloads.map { try Event(decoding: $0) }
    }

    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    /// An earlier launch's file named 1000 s in the future (a clock set back since): the resumed
    /// launch's file still sorts after it, and holds the version, START at the next iteration and
    /// the scalars as float32; the earlier file keeps only its steps up to the resumed iteration.
    func testResumedLaunchTrimsEarlierFilesAndSortsAfterThem() throws {
        let later = Int(Date().timeIntervalSince1970) + 1000
        let earlierName = EventFileName.make(seconds: later, host: "h", pid: 1)
        let earlier = try EventFileWriter(path: dir + "/" + earlierName, wallTime: 1)
        for step in 1...6 { try earlier.append(Event(wallTime: 1, step: Int64(step), content: .scalars([Scalar(tag: "train/loss", value: 1)]))) }
        earlier.close()

        let said = Lines(), warned = Lines()
        let log = TensorBoardLog(directory: dir, keepingThrough: 4, say: { said.add($0) }, warn: { warned.add($0) })
        log.write(step: 5, [("train/loss", 2.0000001), ("train/lr", 3e-3)])
        XCTAssertEqual(warned.all, [])
        XCTAssertEqual(said.all, ["tensorboard: dropped 2 events after iteration 4 from \(earlierName)"])
        let names = try files()
        XCTAssertEqual(names.count, 2)
        XCTAssertEqual(names.first, earlierName)
        XCTAssertEqual(EventFileName.seconds(names[1]), later + 1)
        XCTAssertEqual(try events(earlierName).map(\.step), [0, 1, 2, 3, 4])
        let mine = try events(names[1])
        XCTAssertEqual(mine.map(\.step), [0, 5, 5])
        XCTAssertEqual(mine.map(\.content), [.fileVersion("brain.Event:2"), .sessionStart,
                                             .scalars([Scalar(tag: "train/loss", value: Float(2.0000001)), Scalar(tag: "train/lr", value: Float(3e-3))])])
    }

    /// A new run removes earlier launches' events files (metrics.jsonl starts afresh too), and
    /// leaves other files alone.
    func testNewRunRemovesEarlierEventFiles() throws {
        let old = EventFileName.make(seconds: 100, host: "h", pid: 1)
        _ = try EventFileWriter(path: dir + "/" + old, wallTime: 1)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        let log = TensorBoardLog(directory: dir, keepingThrough: nil, say: { _ in }, warn: { XCTFail($0) })
        log.write(step: 1, [("train/loss", 1)])
        let names = try files()
        XCTAssertEqual(names.count, 2)
        XCTAssertTrue(names.contains("notes.txt"))
        XCTAssertFalse(names.contains(old))
        XCTAssertEqual(try events(names.first { $0 != "notes.txt" }!).map(\.step), [0, 1, 1])
    }

    /// A directory that cannot be made is one warning; writing then does nothing and throws nothing.
    func testUnwritableDirectoryWarnsOnceAndTrainingGoesOn() throws {
        try Data().write(to: URL(fileURLWithPath: dir + "/file"))
        let warned = Lines()
        let log = TensorBoardLog(directory: dir + "/file/tensorboard", keepingThrough: nil, say: { _ in }, warn: { warned.add($0) })
        for step in 1...3 { log.write(step: step, [("train/loss", 1)]) }
        XCTAssertEqual(warned.all.count, 1)
        XCTAssertTrue(warned.all[0].hasPrefix("warning: no TensorBoard events this launch:"), warned.all[0])
        XCTAssertTrue(warned.all[0].contains("metrics.jsonl has every figure"), warned.all[0])
    }
}

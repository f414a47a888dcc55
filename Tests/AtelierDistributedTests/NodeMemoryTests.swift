import AtelierDistributed
import Foundation
import XCTest

/// MemAvailable and the cgroup limit, read from fake /proc and /sys files.
final class NodeMemoryTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-nodememory-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "MemTotal:       24683652 kB\nMemFree:        16000000 kB\nMemAvailable:   20000000 kB\n"
            .write(to: dir.appendingPathComponent("meminfo"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ text: String, _ path: String) throws {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func read() -> NodeMemory? {
        NodeMemory.read(meminfo: dir.appendingPathComponent("meminfo").path, cgroupOfProcess: dir.appendingPathComponent("cgroup").path,
                        cgroupRoot: dir.appendingPathComponent("sys").path)
    }

    func testMemAvailableWithoutCgroup() throws {
        XCTAssertEqual(read()?.availableBytes, 20_000_000 * 1024)
        XCTAssertEqual(read()?.source.hasPrefix("MemAvailable"), true)
    }

    func testCgroupV2LimitLowersTheFigure() throws {
        try write("0::/job.slice\n", "cgroup")
        try write("8000000000\n", "sys/job.slice/memory.max")
        try write("1000000000\n", "sys/job.slice/memory.current")
        XCTAssertEqual(read()?.availableBytes, 7_000_000_000)
        XCTAssertEqual(read()?.source.contains("memory.max"), true)
        // "max" is no limit
        try write("max\n", "sys/job.slice/memory.max")
        XCTAssertEqual(read()?.availableBytes, 20_000_000 * 1024)
    }

    func testCgroupV1LimitLowersTheFigure() throws {
        try write("4:memory:/box\n0::/\n", "cgroup")
        try write("3000000000\n", "sys/memory/box/memory.limit_in_bytes")
        try write("500000000\n", "sys/memory/box/memory.usage_in_bytes")
        XCTAssertEqual(read()?.availableBytes, 2_500_000_000)
        // v1's "no limit" is a page-rounded 2^63
        try write("9223372036854771712\n", "sys/memory/box/memory.limit_in_bytes")
        XCTAssertEqual(read()?.availableBytes, 20_000_000 * 1024)
    }

    func testLimitAboveMemAvailableKeepsMemAvailable() throws {
        try write("0::/\n", "cgroup")
        try write("64000000000\n", "sys/memory.max")
        try write("0\n", "sys/memory.current")
        XCTAssertEqual(read()?.availableBytes, 20_000_000 * 1024)
    }
}

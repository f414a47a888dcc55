import Foundation
import XCTest

/// A throwaway PostgreSQL server (cluster/postgres/test-server.sh) for one test: initdb in a
/// temporary directory, a free local port, password authentication. Its password is put in this
/// process's PGPASSWORD, where libpq reads it. Skips the test where PostgreSQL is not installed.
final class TestPostgreSQLServer {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("cluster/postgres/test-server.sh").path
    let dir = "/tmp/atelier-pg-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let password = "pw-\(UInt64.random(in: 0...UInt64.max))"
    private(set) var url = ""

    init() throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/postgresql") else {
            throw XCTSkip("PostgreSQL's server is not installed (apt-get install postgresql)")
        }
        setenv("PGPASSWORD", password, 1)
        let up = try Self.run(["up", "--dir", dir], password: password)
        guard up.status == 0, let last = up.output.split(separator: "\n").last, last.hasPrefix("postgresql://") else {
            throw XCTSkip("cannot start a test PostgreSQL here: \(up.output)")
        }
        url = String(last)
    }

    func stop() throws { XCTAssertEqual(try Self.run(["stop", "--dir", dir], password: password).status, 0) }
    func start() throws { XCTAssertEqual(try Self.run(["start", "--dir", dir], password: password).status, 0) }
    func down() { _ = try? Self.run(["down", "--dir", dir], password: password) }

    /// The script, its output through a file (the server it starts keeps its descriptors).
    static func run(_ arguments: [String], password: String) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["PGPASSWORD": password]) { $1 }
        let handle = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoints of one run: RUN_DIR/checkpoints/iter_NNNNNNN.h5 plus a `latest` pointer file
/// holding the newest complete one's name. Writes are crash-safe: a checkpoint is written under a
/// temporary name, fsynced, renamed into place, the directory fsynced, then `latest` replaced the
/// same way. A crash at any moment leaves the previous checkpoint and a correct `latest`.
public struct CheckpointDirectory: Sendable {
    public let path: String

    public init(runDirectory: String) {
        path = runDirectory + "/checkpoints"
    }

    public static func fileName(iteration: Int) -> String {
        "iter_" + String(repeating: "0", count: max(0, 7 - String(iteration).count)) + String(iteration) + ".h5"
    }

    /// Writes a checkpoint with `write` (which must create the file at the path it is given), makes
    /// it durable, points `latest` at it and applies retention. Returns the final path.
    @discardableResult
    public func save(iteration: Int, keepLast: Int, keepEvery: Int, write: (String) throws -> Void) throws -> String {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let name = Self.fileName(iteration: iteration)
        let temporary = "\(path)/.\(name).tmp-\(getpid())"
        let final = "\(path)/\(name)"
        unlink(temporary)
        do {
            try write(temporary)
            try fsyncFile(temporary)
            try rename(temporary, final)
            try fsyncFile(path)
            try replaceLatest(with: name)
        } catch {
            unlink(temporary)
            throw error
        }
        applyRetention(keepLast: keepLast, keepEvery: keepEvery, keeping: name)
        return final
    }

    /// Checkpoint files to try on resume, best first: the one `latest` names, then the others by
    /// descending iteration (so a damaged newest one falls back to the one before).
    public func candidates() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasPrefix("iter_") && $0.hasSuffix(".h5") }
            .sorted(by: >)
        var ordered: [String] = []
        if let latest = try? String(contentsOfFile: path + "/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           names.contains(latest) {
            ordered.append(latest)
        }
        ordered += names.filter { !ordered.contains($0) }
        return ordered.map { "\(path)/\($0)" }
    }

    /// The name `latest` holds, if it names an existing checkpoint.
    public func latest() -> String? {
        guard let name = try? String(contentsOfFile: path + "/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
              FileManager.default.fileExists(atPath: "\(path)/\(name)") else { return nil }
        return name
    }

    /// Removes temporary files that a killed save left behind (never a complete checkpoint).
    public func removeStaleTemporaries() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        where name.hasPrefix(".") && name.contains(".tmp-") {
            unlink("\(path)/\(name)")
        }
    }

    private func replaceLatest(with name: String) throws {
        let temporary = "\(path)/.latest.tmp-\(getpid())"
        try (name + "\n").write(toFile: temporary, atomically: false, encoding: .utf8)
        try fsyncFile(temporary)
        try rename(temporary, "\(path)/latest")
        try fsyncFile(path)
    }

    /// Keeps the newest `keepLast` checkpoints and those whose iteration is a multiple of
    /// `keepEvery` (0: none), never the one just written.
    private func applyRetention(keepLast: Int, keepEvery: Int, keeping current: String) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasPrefix("iter_") && $0.hasSuffix(".h5") }
            .sorted(by: >)
        for (index, name) in names.enumerated() where index >= keepLast && name != current {
            let iteration = Int(name.dropFirst(5).dropLast(3)) ?? 0
            if keepEvery > 0 && iteration % keepEvery == 0 { continue }
            unlink("\(path)/\(name)")
        }
    }

    private func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw POSIXFailure(call: "rename", path: to, code: errno) }
    }

    private func fsyncFile(_ file: String) throws {
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw POSIXFailure(call: "open", path: file, code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw POSIXFailure(call: "fsync", path: file, code: errno) }
    }
}

/// A failed system call on a path, with the system's message.
public struct POSIXFailure: Error, CustomStringConvertible {
    public let call: String
    public let path: String
    public let code: Int32
    public init(call: String, path: String, code: Int32) {
        self.call = call; self.path = path; self.code = code
    }
    public var description: String { "\(path): \(call) failed: \(String(cString: strerror(code)))" }
}

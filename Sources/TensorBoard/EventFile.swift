import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An events file being written. It is created new (never over another file) with the version
/// event first, and each event is appended with one write call: nothing is buffered in the
/// process, so a killed writer leaves whole records and at worst one torn record at the end.
public final class EventFileWriter {
    public let path: String
    private var fd: Int32

    public init(path: String, wallTime: Double) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EventFileError(path: path, reason: String(cString: strerror(errno))) }
        try append(Event(wallTime: wallTime, step: 0, content: .fileVersion(Event.fileVersion)))
    }

    deinit { close() }

    public func append(_ event: Event) throws {
        let record = TFRecord.framed(event.encoded)
        try record.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw EventFileError(path: path, reason: fd < 0 ? "closed" : String(cString: strerror(errno))) }
                done += n
            }
        }
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

/// What TensorBoard looks for in a log directory: files whose names hold "tfevents", read in name
/// order. Names here are events.out.tfevents.SECONDS.HOST.PID, as TensorFlow's writer makes them.
public enum EventFileName {
    public static func make(seconds: Int, host: String, pid: Int32) -> String {
        let safeHost = String(host.map { $0 == "/" ? "_" : $0 })
        return "events.out.tfevents.\(String(format: "%010d", seconds)).\(safeHost).\(pid)"
    }

    public static func isEventFile(_ name: String) -> Bool { name.contains("tfevents") }

    /// The SECONDS of a name made by `make` (nil for names made otherwise).
    public static func seconds(_ name: String) -> Int? {
        let prefix = "events.out.tfevents."
        guard name.hasPrefix(prefix) else { return nil }
        return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
    }
}

public struct EventFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written front to back through a fixed buffer (created or truncated on open), so a
/// writer holds `bufferSize` bytes whatever it writes. Errors name the file.
final class FileWriter {
    let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferSize: Int
    private(set) var bytesWritten = 0

    init(path: String, bufferSize: Int = 1 << 20) throws {
        self.path = path
        self.bufferSize = bufferSize
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DataError.unwritable(path: path, reason: String(cString: strerror(errno))) }
        buffer.reserveCapacity(bufferSize)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > bufferSize { try flush() }
        if bytes.count >= bufferSize { try writeAll(bytes) } else { buffer.append(contentsOf: bytes) }
        bytesWritten += bytes.count
    }

    func write<T: FixedWidthInteger>(littleEndian value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try write($0) }
    }

    /// Writes what is buffered and closes the file.
    func close() throws {
        try flush()
        if Glibc.close(fd) != 0 { fd = -1; throw failure() }
        fd = -1
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure() }
            done += n
        }
    }

    private func failure() -> DataError {
        DataError.unwritable(path: path, reason: String(cString: strerror(errno)))
    }
}

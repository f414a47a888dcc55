import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The lines of a byte range of a file, read in chunks of `bufferSize` bytes: memory is one chunk
/// plus the longest line, whatever the file's size. A line is the bytes up to a newline (not
/// included); the range's last bytes are a line even without a newline after them.
public struct LineReader: Sendable {
    public let path: String
    public let range: Range<Int>
    public let bufferSize: Int

    /// All of the file when `range` is nil.
    public init(path: String, range: Range<Int>? = nil, bufferSize: Int = 1 << 20) throws {
        precondition(bufferSize > 0)
        self.path = path
        self.range = try range ?? 0..<Self.fileSize(path)
        self.bufferSize = bufferSize
    }

    /// Calls `body` with each line and the file offset just past it (its newline included).
    public func forEachLine(_ body: (UnsafeRawBufferPointer, _ end: Int) throws -> Void) throws {
        var pending: [UInt8] = []   // the start of a line begun in an earlier chunk
        var offset = range.lowerBound
        try forEachChunk { chunk in
            var start = 0
            while start < chunk.count, let newline = memchr(chunk.baseAddress! + start, 0x0A, chunk.count - start) {
                let end = chunk.baseAddress!.distance(to: UnsafeRawPointer(newline))
                if pending.isEmpty {
                    try body(UnsafeRawBufferPointer(rebasing: chunk[start..<end]), offset + end + 1)
                } else {
                    pending.append(contentsOf: chunk[start..<end])
                    try pending.withUnsafeBytes { try body($0, offset + end + 1) }
                    pending = []
                }
                start = end + 1
            }
            pending.append(contentsOf: chunk[start...])
            offset += chunk.count
        }
        if !pending.isEmpty { try pending.withUnsafeBytes { try body($0, range.upperBound) } }
    }

    /// Calls `body` with the range's bytes, front to back, at most `bufferSize` at a time.
    public func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try Self.open(path)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let got = try Self.read(fd, path, into: &buffer, count: min(bufferSize, range.upperBound - offset), at: offset)
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            offset += got
        }
    }

    /// The first line start at or after byte `offset` (the file's size when no line starts there):
    /// 0, or one past a newline. Where rank r of N begins reading, with offset r * size / N.
    public static func lineStart(atOrAfter offset: Int, path: String, bufferSize: Int = 1 << 16) throws -> Int {
        let size = try fileSize(path)
        guard offset > 0 else { return 0 }
        guard offset < size else { return size }
        let fd = try open(path)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        var at = offset - 1   // a line starts at `offset` when the byte before it is a newline
        while at < size {
            let got = try read(fd, path, into: &buffer, count: min(bufferSize, size - at), at: at)
            if let i = buffer[0..<got].firstIndex(of: 0x0A) { return at + i + 1 }
            at += got
        }
        return size
    }

    public static func fileSize(_ path: String) throws -> Int {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw DataError.unreadable(path: path, reason: errno == ENOENT ? "no such file" : "not readable")
        }
        return Int(status.st_size)
    }

    static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: errno == ENOENT ? "no such file" : "not readable") }
        return fd
    }

    /// Reads `count` bytes at `offset` (fewer only at the end of the file, never none).
    static func read(_ fd: Int32, _ path: String, into buffer: inout [UInt8], count: Int, at offset: Int) throws -> Int {
        let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard got > 0 else {
            throw DataError.unreadable(path: path, reason: got == 0 ? "ends before byte \(offset) (changed while being read?)"
                                                                    : "read failed at byte \(offset): \(String(cString: strerror(errno)))")
        }
        return got
    }
}

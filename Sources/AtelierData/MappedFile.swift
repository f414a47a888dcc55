import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only (MAP_PRIVATE): its bytes are read in place, paged in by the
/// kernel as they are touched and shared with every other process mapping the same file, so a
/// dataset costs no memory of its own however large it is. Unmapped when the last copy goes.
public final class MappedFile: @unchecked Sendable {   // immutable after init: the mapping is read-only
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError.unreadable(path: path, reason: errno == ENOENT ? "no such file" : "cannot be opened: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw DataError.unreadable(path: path, reason: "not a regular file")
        }
        let count = Int(status.st_size)
        guard count > 0 else {   // mmap refuses a length of 0; an empty file is an empty buffer
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw DataError.unreadable(path: path, reason: "cannot be mapped: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: count)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    public var count: Int { bytes.count }

    /// Lets go of the pages holding `range` (all of the file when nil), widened to whole pages:
    /// pages read count in this process's resident set until then, and are read again from the
    /// page cache if touched later. For passes over a whole file that keep none of it.
    public func releasePages(_ range: Range<Int>? = nil) {
        guard let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let r = range ?? 0..<bytes.count
        let start = r.lowerBound / page * page, end = min(bytes.count, (r.upperBound + page - 1) / page * page)
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// The little-endian integer at byte `offset` (any alignment); the caller has checked the bounds.
    @inline(__always)
    func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// One owned, 64-byte aligned, zero-initialised allocation of floats. Parameters, gradients, the
/// Adam moments and activations each live in one of these, with named views (offsets) into it.
public final class FloatBuffer: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    private init(base: UnsafeMutablePointer<Float>, count: Int) {
        self.base = base
        self.count = count
    }

    /// For sizes known to fit (tests, fixed benchmark sizes): a failed allocation stops the process.
    /// Anything sized by a job file or a flag uses `init(count:for:)`.
    public convenience init(count: Int) {
        guard let base = Self.allocate(count) else {
            fatalError("out of memory allocating \(count) floats")
        }
        self.init(base: base, count: count)
    }

    /// Throws `AllocationFailed` naming `what` (e.g. "the Adam moments") when the memory is not there.
    public convenience init(count: Int, for what: String, advice: String = AllocationFailed.jobAdvice) throws {
        guard let base = Self.allocate(count) else { throw AllocationFailed(what: what, floats: count, advice: advice) }
        self.init(base: base, count: count)
    }

    /// posix_memalign and zero `count` floats; nil when the byte count overflows or the allocation fails.
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float>? {
        guard count >= 0, let bytes = checkedByteCount(max(count, 1)) else { return nil }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { return nil }
        memset(raw, 0, bytes)
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Bytes of `count` floats, or nil when that does not fit in an Int.
    static func checkedByteCount(_ count: Int) -> Int? {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        return overflow ? nil : bytes
    }

    deinit { free(base) }

    public subscript(i: Int) -> Float {
        get { base[i] }
        set { base[i] = newValue }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    /// Sets every float to 0, in parts over `Parallel`'s threads (the gradients before each step).
    public func zero() { Parallel.fill(base, with: 0, count: count) }


    public var array: [Float] { Array(buffer) }

    public var bytes: Int { count * MemoryLayout<Float>.stride }
}

#if canImport(Glibc)
import Glibc
#endif

/// One owned, 64-byte aligned, zero-initialised allocation of floats. Parameters, gradients, the
/// Adam moments and activations each live in one of these, with named views (offsets) into it.
public final class FloatBuffer: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        memset(raw, 0, bytes)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(base) }

    public subscript(i: Int) -> Float {
        get { base[i] }
        set { base[i] = newValue }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    public func zero() { memset(base, 0, count * MemoryLayout<Float>.stride) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        memcpy(base, other.base, count * MemoryLayout<Float>.stride)
    }

    public var array: [Float] { Array(buffer) }

    public var bytes: Int { count * MemoryLayout<Float>.stride }
}

import Foundation

/// Writes one safetensors file, streaming each fp32 tensor narrowed to `dtype` in slices, so an
/// export never holds a second copy of the weights. The JSON header is padded with spaces to a
/// multiple of 8 bytes, so the data starts 8-byte aligned, as the reference implementation does.
public enum SafetensorsWriter {
    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let values: UnsafePointer<Float>
        public var count: Int { shape.reduce(1, *) }
        public init(name: String, shape: [Int], values: UnsafePointer<Float>) {
            (self.name, self.shape, self.values) = (name, shape, values)
        }
    }

    /// Writes `tensors` in order to `path` (which should be a temporary name the caller renames).
    public static func write(path: String, tensors: [Tensor], dtype: TensorDType, metadata: [String: String] = [:]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            let bytes = t.count * dtype.size
            header[t.name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        // Data.write and FileHandle(forWritingTo:) throw what really went wrong (no such
        // directory, a full disk, permissions).
        try Data().write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var lengthBytes = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { lengthBytes.append(contentsOf: $0) }
        try handle.write(contentsOf: lengthBytes)
        try handle.write(contentsOf: json)
        let slice = 1 << 20   // elements per write: 4 MiB of fp32 at most in flight
        var scratch = Data(count: slice * dtype.size)
        for t in tensors {
            var start = 0
            while start < t.count {
                let n = min(slice, t.count - start)
                scratch.withUnsafeMutableBytes { dtype.narrow(t.values + start, count: n, into: $0.baseAddress!) }
                try handle.write(contentsOf: scratch.prefix(n * dtype.size))
                start += n
            }
        }
        try handle.synchronize()
    }
}

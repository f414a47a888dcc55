import Foundation

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
/// then the tensors' bytes, offsets relative to the end of the header. Only F32 is written or read.
public enum Safetensors {
    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let data: Data   // little-endian float32 bytes
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let file: String
        public let problem: String
        public var description: String { "\(file): not a usable safetensors file: \(problem)" }
    }

    /// Writes tensors (name, shape, floats) in the given order.
    public static func write(path: String, tensors: [(name: String, shape: [Int], floats: UnsafePointer<Float>)],
                             metadata: [String: String] = [:]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad so the data starts 8-byte aligned
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors { out.append(Data(bytes: t.floats, count: t.shape.reduce(1, *) * 4)) }
        try out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads every tensor, checking the header against the file's size: offsets in bounds, in order,
    /// not overlapping, sizes matching shapes, dtype F32.
    public static func read(path: String) throws -> [String: Tensor] {
        func fail(_ problem: String) -> FormatError { FormatError(file: path, problem: problem) }
        guard let file = FileManager.default.contents(atPath: path) else { throw fail("cannot read it") }
        guard file.count >= 8 else { throw fail("shorter than its 8-byte header length") }
        let headerLength = file.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= 100 << 20, 8 + Int(headerLength) <= file.count else {
            throw fail("header length \(headerLength) does not fit in a file of \(file.count) bytes")
        }
        let dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: file.subdata(in: 8..<dataStart)) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        var tensors: [String: Tensor] = [:]
        var spans: [(Int, Int, String)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else { throw fail("tensor '\(name)' is \(dtype); only F32 is supported") }
            guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else { throw fail("tensor '\(name)' has absurd shape \(shape)") }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= file.count - dataStart,
                  offsets[1] - offsets[0] == elements * 4 else {
                throw fail("tensor '\(name)': data_offsets \(offsets) do not match shape \(shape) within the file")
            }
            spans.append((offsets[0], offsets[1], name))
            tensors[name] = Tensor(name: name, shape: shape, data: file.subdata(in: (dataStart + offsets[0])..<(dataStart + offsets[1])))
        }
        spans.sort { $0.0 < $1.0 }
        for (a, b) in zip(spans, spans.dropFirst()) where b.0 < a.1 {
            throw fail("tensors '\(a.2)' and '\(b.2)' overlap")
        }
        return tensors
    }
}

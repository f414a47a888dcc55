import AtelierData
import Foundation

/// A safetensors file (Hugging Face), memory-mapped: an 8-byte little-endian header length N, N
/// bytes of JSON `{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]},
/// "__metadata__": {..}}`, then the tensors' bytes, offsets relative to the end of the header.
/// The header is checked against the file's size (offsets in bounds, not overlapping, sizes
/// matching shapes and dtypes); tensors are widened to fp32 straight from the mapping, so reading
/// a 2 GB shard needs no 2 GB copy.
public final class SafetensorsFile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: TensorDType
        public let shape: [Int]
        public let byteRange: Range<Int>   // within the file
        public var count: Int { shape.reduce(1, *) }
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let file: String
        public let problem: String
        public var description: String { "\(file): not a usable safetensors file: \(problem)" }
    }

    public let path: String
    public let entries: [String: Entry]
    let mapping: MappedFile

    public init(path: String) throws {
        func fail(_ problem: String) -> FormatError { FormatError(file: path, problem: problem) }
        do { mapping = try MappedFile(path: path) } catch DataError.unreadable(_, let reason) { throw fail(reason) }
        self.path = path
        let file = mapping.bytes
        guard file.count >= 8 else { throw fail("shorter than its 8-byte header length") }
        let headerLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard headerLength <= 100 << 20, 8 + Int(headerLength) <= file.count else {
            throw fail("header length \(headerLength) does not fit in a file of \(file.count) bytes")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = Data(UnsafeRawBufferPointer(rebasing: file[8..<dataStart]))
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        var spans: [(Int, Int, String)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)' is \(dtypeName); F32, F16 and BF16 are read")
            }
            guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else { throw fail("tensor '\(name)' has absurd shape \(shape)") }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (bytes, bytesOverflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, !bytesOverflow, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= file.count - dataStart,
                  offsets[1] - offsets[0] == bytes else {
                throw fail("tensor '\(name)': data_offsets \(offsets) do not match shape \(shape) of \(dtypeName) within the file")
            }
            spans.append((offsets[0], offsets[1], name))
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, byteRange: (dataStart + offsets[0])..<(dataStart + offsets[1]))
        }
        spans.sort { $0.0 < $1.0 }
        for (a, b) in zip(spans, spans.dropFirst()) where b.0 < a.1 {
            throw fail("tensors '\(a.2)' and '\(b.2)' overlap")
        }
        self.entries = entries
    }

    /// Widens tensor `entry` into `out` (its element count of fp32 values) in 32 MiB slices,
    /// letting each slice's pages go once read: the file is never resident beyond one slice.
    public func read(_ entry: Entry, into out: UnsafeMutablePointer<Float>) {
        let slice = (32 << 20) / entry.dtype.size   // elements
        var start = 0
        while start < entry.count {
            let n = min(slice, entry.count - start)
            let bytes = (entry.byteRange.lowerBound + start * entry.dtype.size)..<(entry.byteRange.lowerBound + (start + n) * entry.dtype.size)
            entry.dtype.widen(mapping.bytes.baseAddress! + bytes.lowerBound, count: n, into: out + start)
            mapping.releasePages(bytes)
            start += n
        }
    }
}

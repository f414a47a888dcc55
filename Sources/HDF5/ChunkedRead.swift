import CHDF5
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension H5File {
    /// Reads a float32 dataset of exactly `shape` into `data`, like `read(_:shape:into:)`, but for
    /// the layout this module writes (chunked along the first dimension, Fletcher32 as the only
    /// filter) it reads the stored chunks itself with pread on `threads` threads and checks each
    /// chunk's Fletcher32 (HDF5's algorithm), instead of HDF5's one-threaded filter pipeline with its
    /// temporary buffer and extra copy per chunk. Any other layout goes through HDF5.
    public func readVerified(_ name: String, shape expected: [Int], into data: UnsafeMutablePointer<Float>,
                             threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard let chunks = try directChunks(name, shape: expected), !chunks.isEmpty else {
            return try read(name, shape: expected, into: data)
        }
        let rowFloats = max(1, expected.dropFirst().reduce(1, *))
        let rows = expected[0]
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw HDF5Error(file: path, object: name, problem: "cannot be opened for reading") }
        defer { Glibc.close(fd) }
        final class Failure: @unchecked Sendable {
            let lock = NSLock()
            var error: HDF5Error?
            func set(_ e: HDF5Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
        }
        let failure = Failure()
        let path = self.path
        // Workers write disjoint rows of the destination.
        struct Destination: @unchecked Sendable { let base: UnsafeMutableRawPointer }
        let destination = Destination(base: UnsafeMutableRawPointer(data))
        let workers = max(1, min(threads, chunks.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let largest = chunks.map(\.size).max() ?? 0
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64)
            defer { buffer.deallocate() }
            for chunk in chunks[worker...].enumerated().filter({ $0.offset % workers == 0 }).map(\.element) {
                var done = 0
                while done < chunk.size {
                    let n = pread(fd, buffer + done, chunk.size - done, off_t(chunk.address) + off_t(done))
                    guard n > 0 else {
                        failure.set(HDF5Error(file: path, object: name, problem: "cannot be read: the file ends inside its data"))
                        return
                    }
                    done += n
                }
                let payload = chunk.size - 4
                let stored = buffer.loadUnaligned(fromByteOffset: payload, as: UInt32.self).littleEndian
                let computed = fletcher32(UnsafeRawPointer(buffer), payload)
                guard stored == computed || stored == computed.byteSwapped else {
                    failure.set(HDF5Error(file: path, object: name, problem: "cannot be read: checksum mismatch or damaged data"))
                    return
                }
                let validRows = min(chunk.rows, rows - chunk.firstRow)
                let bytes = validRows * rowFloats * 4
                guard bytes <= payload else {
                    failure.set(HDF5Error(file: path, object: name, problem: "has a chunk smaller than its shape says"))
                    return
                }
                (destination.base + chunk.firstRow * rowFloats * 4).copyMemory(from: buffer, byteCount: bytes)
            }
        }
        if let error = failure.error { throw error }
    }

    struct DirectChunk: Sendable {
        let firstRow: Int, rows: Int
        let address: UInt64, size: Int
    }

    /// The stored chunks of a dataset in this module's layout, covering every row exactly once;
    /// nil when the dataset is laid out otherwise.
    func directChunks(_ name: String, shape expected: [Int]) throws -> [DirectChunk]? {
        try withDataset(name) { dataset -> [DirectChunk]? in
            let shape = try shape(name, kind: .float32)
            guard shape == expected, let first = expected.first, first > 0 else {
                if shape != expected { throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected \(expected)") }
                return nil
            }
            let dcpl = H5Dget_create_plist(dataset)
            guard dcpl >= 0 else { return nil }
            defer { H5Pclose(dcpl) }
            guard H5Pget_layout(dcpl) == H5D_CHUNKED, H5Pget_nfilters(dcpl) == 1 else { return nil }
            var flags: UInt32 = 0, elements = 0, config: UInt32 = 0
            var values = [UInt32](repeating: 0, count: 8)
            var filterName = [CChar](repeating: 0, count: 64)
            elements = values.count
            guard H5Pget_filter2(dcpl, 0, &flags, &elements, &values, filterName.count, &filterName, &config) == H5Z_FILTER_FLETCHER32 else { return nil }
            let rank = expected.count
            var chunkDims = [hsize_t](repeating: 0, count: rank)
            guard H5Pget_chunk(dcpl, Int32(rank), &chunkDims) == Int32(rank),
                  chunkDims.dropFirst().map({ Int($0) }) == Array(expected.dropFirst()), chunkDims[0] > 0 else { return nil }
            let chunkRows = Int(chunkDims[0])
            var count: hsize_t = 0
            let space = H5Dget_space(dataset)
            guard space >= 0 else { return nil }
            defer { H5Sclose(space) }
            guard H5Dget_num_chunks(dataset, space, &count) >= 0, count > 0, count <= 1 << 24 else { return nil }
            var chunks: [DirectChunk] = []
            let rowBytes = max(1, expected.dropFirst().reduce(1, *)) * 4
            for index in 0..<count {
                var offset = [hsize_t](repeating: 0, count: rank)
                var mask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
                guard H5Dget_chunk_info(dataset, space, index, &offset, &mask, &address, &size) >= 0,
                      mask == 0, offset.dropFirst().allSatisfy({ $0 == 0 }),
                      size >= 4, Int(size) <= chunkRows * rowBytes + 4 else {
                    throw HDF5Error(file: path, object: name, problem: "has a damaged chunk index")
                }
                chunks.append(DirectChunk(firstRow: Int(offset[0]), rows: chunkRows, address: UInt64(address), size: Int(size)))
            }
            // every row exactly once
            let starts = chunks.map(\.firstRow).sorted()
            guard starts == Array(stride(from: 0, to: first, by: chunkRows)) else {
                throw HDF5Error(file: path, object: name, problem: "is missing chunks of its data")
            }
            return chunks
        }
    }
}

/// HDF5's Fletcher32 (H5_checksum_fletcher32): over big-endian 16-bit words, sums folded every 360
/// words. `count` is even for float data.
@inline(__always)
func fletcher32(_ data: UnsafeRawPointer, _ count: Int) -> UInt32 {
    let bytes = data.assumingMemoryBound(to: UInt8.self)
    var sum1: UInt32 = 0, sum2: UInt32 = 0
    var words = count / 2
    var p = 0
    while words > 0 {
        let block = min(words, 360)
        words -= block
        for _ in 0..<block {
            sum1 &+= UInt32(bytes[p]) << 8 | UInt32(bytes[p + 1])
            p += 2
            sum2 &+= sum1
        }
        sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
        sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
    }
    if count % 2 == 1 {
        sum1 &+= UInt32(bytes[p]) << 8
        sum2 &+= sum1
        sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
        sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
    }
    sum1 = (sum1 & 0xffff) &+ (sum1 >> 16)
    sum2 = (sum2 & 0xffff) &+ (sum2 >> 16)
    return sum2 << 16 | sum1
}

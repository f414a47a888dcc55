import CHDF5
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One float32 dataset to read: its name, the shape it must have, and where its elements go.
public struct FloatDatasetRead: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let destination: UnsafeMutablePointer<Float>
    public init(name: String, shape: [Int], destination: UnsafeMutablePointer<Float>) {
        self.name = name
        self.shape = shape
        self.destination = destination
    }
}

extension H5File {
    /// Reads a float32 dataset of exactly `shape` into `data`, checksums verified.
    public func readVerified(_ name: String, shape expected: [Int], into data: UnsafeMutablePointer<Float>,
                             threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        try readVerified([FloatDatasetRead(name: name, shape: expected, destination: data)], threads: threads)
    }

    /// Reads float32 datasets, each of exactly its shape, like `read(_:shape:into:)`. For the layout
    /// this module writes (chunked along the first dimension, Fletcher32 the only filter) it reads
    /// the stored chunks itself: while this thread walks HDF5's metadata (the only HDF5 calls),
    /// `threads` workers take the chunks found so far from a queue, read each with one preadv
    /// straight into its destination (the 4 checksum bytes to the side) and check HDF5's
    /// Fletcher32. HDF5's own pipeline is one thread with a temporary buffer and a copy per chunk.
    /// Datasets laid out otherwise go through HDF5.
    public func readVerified(_ reads: [FloatDatasetRead],
                             threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        let workers = max(1, threads)
        let queue = ChunkQueue()
        let failure = FirstFailure()
        let done = DispatchGroup()
        let path = self.path
        // One descriptor for all workers: they take chunks in file order, so the kernel's
        // read-ahead sees one sequential reader.
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw HDF5Error(file: path, object: "", problem: "cannot be opened for reading") }
        defer { Glibc.close(fd) }
        for _ in 0..<workers {
            done.enter()
            DispatchQueue.global().async {
                defer { done.leave() }
                var padded: (buffer: UnsafeMutableRawPointer, bytes: Int)?
                defer { padded?.buffer.deallocate() }
                while let piece = queue.next() {
                    if failure.happened { continue }
                    if let error = Self.readChunk(piece, fd: fd, file: path, padded: &padded) { failure.set(error) }
                }
            }
        }
        do {
            defer { queue.close() }
            for read in reads {
                if failure.happened { break }
                guard let chunks = try directChunks(read.name, shape: read.shape), !chunks.isEmpty else {
                    try self.read(read.name, shape: read.shape, into: read.destination)
                    continue
                }
                let rowBytes = max(1, read.shape.dropFirst().reduce(1, *)) * 4
                for chunk in chunks {
                    let validRows = min(chunk.rows, read.shape[0] - chunk.firstRow)
                    queue.add(ChunkRead(name: read.name, chunk: chunk,
                                        destination: UnsafeMutableRawPointer(read.destination) + chunk.firstRow * rowBytes,
                                        validBytes: validRows * rowBytes))
                }
            }
        } catch {
            queue.close()
            done.wait()
            throw error
        }
        done.wait()
        if let error = failure.error { throw error }
    }

    /// Reads one stored chunk into place and checks its Fletcher32; the error, if any.
    private static func readChunk(_ piece: ChunkRead, fd: Int32, file: String,
                                  padded: inout (buffer: UnsafeMutableRawPointer, bytes: Int)?) -> HDF5Error? {
        // (the address and size come from the file: a damaged index may point anywhere)
        var info = stat()
        guard fstat(fd, &info) == 0, let offset = off_t(exactly: piece.chunk.address), piece.chunk.size >= 4,
              off_t(piece.chunk.size) <= info.st_size, offset <= info.st_size - off_t(piece.chunk.size) else {
            return HDF5Error(file: file, object: piece.name, problem: "cannot be read: a chunk lies outside the file")
        }
        let payload = piece.chunk.size - 4
        guard piece.validBytes <= payload else {
            return HDF5Error(file: file, object: piece.name, problem: "has a chunk smaller than its shape says")
        }
        // A full chunk goes straight into place; a padded last chunk goes through a buffer.
        let target: UnsafeMutableRawPointer
        if payload == piece.validBytes {
            target = piece.destination
        } else {
            if let p = padded, p.bytes < payload { p.buffer.deallocate(); padded = nil }
            if padded == nil { padded = (.allocate(byteCount: payload, alignment: 64), payload) }
            target = padded!.buffer
        }
        var stored: UInt32 = 0
        let complete = withUnsafeMutableBytes(of: &stored) { checksum -> Bool in
            var vectors = [iovec(iov_base: target, iov_len: payload), iovec(iov_base: checksum.baseAddress, iov_len: 4)]
            return preadFully(fd, &vectors, offset: offset)
        }
        guard complete else {
            return HDF5Error(file: file, object: piece.name, problem: "cannot be read: the file ends inside its data")
        }
        let computed = fletcher32(target, payload)
        let expected = UInt32(littleEndian: stored)
        guard expected == computed || expected == computed.byteSwapped else {
            return HDF5Error(file: file, object: piece.name, problem: "cannot be read: checksum mismatch or damaged data")
        }
        if target != piece.destination { piece.destination.copyMemory(from: target, byteCount: piece.validBytes) }
        return nil
    }

    struct DirectChunk: Sendable {
        let firstRow: Int, rows: Int
        let address: UInt64, size: Int
    }

    /// The stored chunks of a float32 dataset in this module's layout, covering every row exactly
    /// once; nil when the dataset is stored without filters (HDF5 then reads it as is).
    func directChunks(_ name: String, shape expected: [Int]) throws -> [DirectChunk]? {
        try withDataset(name) { dataset -> [DirectChunk]? in
            let shape = try checkedShape(dataset, name: name, kind: .float32)
            guard shape == expected else { throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected \(expected)") }
            return try storedChunks(dataset, name: name, shape: shape, elementSize: 4)
        }
    }

    /// The stored chunks of a dataset of `shape`, checked against it: nil when the dataset has no
    /// filters; an error when its filters are not this module's layout (chunked along the first
    /// dimension, Fletcher32 the only filter). HDF5's own filter pipeline never runs on a file
    /// read here: HDF5 1.10's Fletcher32 filter reads out of bounds on a chunk stored shorter than
    /// its checksum (found by fuzzing, .ci/fuzz); this module checks every chunk's size itself.
    func storedChunks(_ dataset: hid_t, name: String, shape: [Int], elementSize: Int) throws -> [DirectChunk]? {
        let dcpl = H5Dget_create_plist(dataset)
        guard dcpl >= 0 else { throw HDF5Error(file: path, object: name, problem: "has an unreadable storage description") }
        defer { H5Pclose(dcpl) }
        let filters = H5Pget_nfilters(dcpl)
        if filters == 0 { return nil }
        let foreign = HDF5Error(file: path, object: name, problem: "is stored with filters atelier does not write (expected chunks with a Fletcher32 checksum only)")
        guard filters == 1, H5Pget_layout(dcpl) == H5D_CHUNKED, let first = shape.first, first > 0 else { throw foreign }
        var flags: UInt32 = 0, elements = 0, config: UInt32 = 0
        var values = [UInt32](repeating: 0, count: 8)
        var filterName = [CChar](repeating: 0, count: 64)
        elements = values.count
        guard H5Pget_filter2(dcpl, 0, &flags, &elements, &values, filterName.count, &filterName, &config) == H5Z_FILTER_FLETCHER32 else { throw foreign }
        let rank = shape.count
        var chunkDims = [hsize_t](repeating: 0, count: rank)
        guard H5Pget_chunk(dcpl, Int32(rank), &chunkDims) == Int32(rank),
              chunkDims.dropFirst().map({ Int($0) }) == Array(shape.dropFirst()), chunkDims[0] > 0, chunkDims[0] <= 1 << 30 else { throw foreign }
        let chunkRows = Int(chunkDims[0])
        var count: hsize_t = 0
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw foreign }
        defer { H5Sclose(space) }
        let damaged = HDF5Error(file: path, object: name, problem: "is missing chunks of its data or has a damaged chunk index")
        guard H5Dget_num_chunks(dataset, space, &count) >= 0, count > 0, count <= 1 << 24 else { throw damaged }
        // Looked up by coordinate (a tree search each), not by index (a walk of the index each).
        var chunks: [DirectChunk] = []
        let rowBytes = max(1, shape.dropFirst().reduce(1, *)) * elementSize
        for row in stride(from: 0, to: first, by: chunkRows) {
            var offset = [hsize_t](repeating: 0, count: rank)
            offset[0] = hsize_t(row)
            var mask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
            guard H5Dget_chunk_info_by_coord(dataset, offset, &mask, &address, &size) >= 0,
                  address != haddr_t.max, mask == 0, size >= 4, Int(size) <= chunkRows * rowBytes + 4 else { throw damaged }
            chunks.append(DirectChunk(firstRow: row, rows: chunkRows, address: UInt64(address), size: Int(size)))
        }
        guard chunks.count == Int(count) else {
            throw HDF5Error(file: path, object: name, problem: "has \(count) chunks where its shape needs \(chunks.count)")
        }
        return chunks
    }

    /// Reads `chunks` of a dataset of `shape` into `data` one after the other, each checked against
    /// its Fletcher32 (for the small datasets; the tensors go through `readVerified`).
    func readChunks(_ chunks: [DirectChunk], name: String, shape: [Int], elementSize: Int, into data: UnsafeMutableRawPointer) throws {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw HDF5Error(file: path, object: name, problem: "cannot be opened for reading") }
        defer { Glibc.close(fd) }
        let rowBytes = max(1, shape.dropFirst().reduce(1, *)) * elementSize
        var padded: (buffer: UnsafeMutableRawPointer, bytes: Int)?
        defer { padded?.buffer.deallocate() }
        for chunk in chunks {
            let validRows = min(chunk.rows, shape[0] - chunk.firstRow)
            let piece = ChunkRead(name: name, chunk: chunk, destination: data + chunk.firstRow * rowBytes, validBytes: validRows * rowBytes)
            if let error = Self.readChunk(piece, fd: fd, file: path, padded: &padded) { throw error }
        }
    }
}

/// preadv until every vector is full; false when the file ends first or a read fails.
private func preadFully(_ fd: Int32, _ vectors: inout [iovec], offset: off_t) -> Bool {
    var offset = offset, first = 0
    while first < vectors.count {
        let n = vectors.withUnsafeBufferPointer { preadv(fd, $0.baseAddress! + first, Int32(vectors.count - first), offset) }
        guard n > 0 else { return false }
        offset += off_t(n)
        var left = n
        while left > 0, first < vectors.count {
            let take = min(left, vectors[first].iov_len)
            vectors[first].iov_base = vectors[first].iov_base.map { $0 + take }
            vectors[first].iov_len -= take
            left -= take
            if vectors[first].iov_len == 0 { first += 1 }
        }
    }
    return true
}

/// One stored chunk to read into place.
struct ChunkRead: @unchecked Sendable {
    let name: String
    let chunk: H5File.DirectChunk
    let destination: UnsafeMutableRawPointer
    let validBytes: Int   // bytes of the chunk that belong to the dataset (the last chunk is padded)
}

/// Chunks found so far, handed to the workers in order; `next` waits for one or for `close`.
final class ChunkQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [ChunkRead] = []
    private var head = 0
    private var closed = false

    func add(_ item: ChunkRead) {
        condition.lock(); items.append(item); condition.signal(); condition.unlock()
    }

    func close() {
        condition.lock(); closed = true; condition.broadcast(); condition.unlock()
    }

    func next() -> ChunkRead? {
        condition.lock(); defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        head += 1
        return items[head - 1]
    }
}

/// The first error any worker hit.
final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: HDF5Error?
    var happened: Bool { lock.lock(); defer { lock.unlock() }; return error != nil }
    func set(_ e: HDF5Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}

import CHDF5
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One float32 dataset to write: its name, its shape, and where its elements are (row-major).
public struct FloatDatasetWrite: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let source: UnsafePointer<Float>
    public init(name: String, shape: [Int], source: UnsafePointer<Float>) {
        self.name = name
        self.shape = shape
        self.source = source
    }
}

extension H5File {
    /// Chunk buffers between `writeVerified`'s preparing thread and its writing one.
    static let writeRing = 4

    /// Bytes `writeVerified` holds while it runs for datasets of these shapes: its ring of buffers,
    /// each the largest chunk plus its checksum.
    public static func writeBufferBytes(shapes: [[Int]]) -> Int {
        let largest = shapes.filter { $0.reduce(1, *) > 0 }.map(chunkBytes).max() ?? 0
        return largest == 0 ? 0 : writeRing * (largest + 4)
    }

    /// Copies a chunk's `validBytes` into `buffer`, zero-pads it to `chunkBytes` and appends the
    /// Fletcher32 as HDF5's filter stores it (little-endian): `buffer` holds chunkBytes + 4.
    static func prepareChunk(_ buffer: UnsafeMutableRawPointer, from source: UnsafeRawPointer, validBytes: Int, chunkBytes: Int) {
        buffer.copyMemory(from: source, byteCount: validBytes)
        if validBytes < chunkBytes {
            (buffer + validBytes).initializeMemory(as: UInt8.self, repeating: 0, count: chunkBytes - validBytes)
        }
        let checksum = fletcher32(buffer, chunkBytes).littleEndian
        (buffer + chunkBytes).storeBytes(of: checksum, as: UInt32.self)
    }

    /// Bytes of one float32 row along the first dimension, and of one (padded) chunk of them.
    static func rowBytes(_ shape: [Int]) -> Int { max(1, shape.dropFirst().reduce(1, *)) * 4 }
    static func chunkBytes(_ shape: [Int]) -> Int { chunkRows(shape) * rowBytes(shape) }

    /// Writes float32 datasets in this module's layout (chunked along the first dimension,
    /// Fletcher32), giving HDF5 finished chunks (`H5Dwrite_chunk`) instead of running its
    /// one-threaded filter pipeline. A second thread copies each chunk into a buffer, zero-pads a
    /// short last chunk and appends the Fletcher32 (HDF5's, little-endian, as its filter stores
    /// it) while this thread hands the previous chunk to HDF5, so the write path does little more
    /// than the kernel's copy. The file is the same as `write(_:shape:floats:)` makes, and HDF5
    /// verifies it on read like any other.
    public func writeVerified(_ writes: [FloatDatasetWrite]) throws {
        struct Piece: @unchecked Sendable {
            let dataset: Int          // index into `datasets`
            let firstRow: Int
            let source: UnsafeRawPointer
            let validBytes: Int       // bytes of the dataset in this chunk
            let chunkBytes: Int       // the chunk's full (padded) size
        }
        // The chunks follow from the shapes alone, so preparing them starts at once; this thread
        // creates each dataset just before writing its first chunk.
        var pieces: [Piece] = []
        for (index, write) in writes.enumerated() where write.shape.reduce(1, *) > 0 {
            let rows = write.shape[0], chunkRows = Self.chunkRows(write.shape)
            let rowBytes = Self.rowBytes(write.shape)
            for first in stride(from: 0, to: rows, by: chunkRows) {
                pieces.append(Piece(dataset: index, firstRow: first,
                                    source: UnsafeRawPointer(write.source) + first * rowBytes,
                                    validBytes: min(chunkRows, rows - first) * rowBytes, chunkBytes: Self.chunkBytes(write.shape)))
            }
        }
        var datasets: [hid_t] = []
        defer { datasets.forEach { H5Dclose($0) } }
        func createThrough(_ index: Int) throws {
            while datasets.count <= index {
                let write = writes[datasets.count]
                datasets.append(try createDataset(write.name, shape: write.shape, fileType: atelier_h5t_ieee_f32le()))
            }
        }
        guard !pieces.isEmpty else { return try createThrough(writes.count - 1) }

        // A ring of buffers between the preparing thread and this one.
        let ring = Self.writeRing, largest = pieces.map(\.chunkBytes).max()! + 4
        struct Buffers: @unchecked Sendable { let base: [UnsafeMutableRawPointer] }
        let buffers = Buffers(base: (0..<ring).map { _ in UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64) })
        defer { buffers.base.forEach { $0.deallocate() } }
        let free = DispatchSemaphore(value: ring), ready = DispatchSemaphore(value: 0)
        final class Stop: @unchecked Sendable {
            private let lock = NSLock()
            private var flag = false
            var requested: Bool {
                get { lock.lock(); defer { lock.unlock() }; return flag }
                set { lock.lock(); flag = newValue; lock.unlock() }
            }
        }
        let stop = Stop()
        let prepared = DispatchGroup()
        let all = pieces
        prepared.enter()
        DispatchQueue.global().async {
            defer { prepared.leave() }
            for (i, piece) in all.enumerated() {
                free.wait()
                if stop.requested { return }
                H5File.prepareChunk(buffers.base[i % ring], from: piece.source, validBytes: piece.validBytes, chunkBytes: piece.chunkBytes)
                ready.signal()
            }
        }
        defer {
            stop.requested = true
            free.signal()
            prepared.wait()
            // After an early exit the preparing thread has taken more of `free` than this thread
            // gave back; libdispatch traps on disposing a semaphore below its initial value.
            for _ in 0..<ring { free.signal() }
        }
        for (i, piece) in pieces.enumerated() {
            try createThrough(piece.dataset)
            ready.wait()
            let rank = writes[piece.dataset].shape.count
            var offset = [hsize_t](repeating: 0, count: rank)
            offset[0] = hsize_t(piece.firstRow)
            errno = 0
            let status = H5Dwrite_chunk(datasets[piece.dataset], atelier_h5p_default(), 0, offset, piece.chunkBytes + 4,
                                        buffers.base[i % ring])
            free.signal()
            guard status >= 0 else {
                throw HDF5Error(file: path, object: writes[piece.dataset].name, problem: "write failed: \(Self.systemReason())")
            }
        }
        try createThrough(writes.count - 1)   // datasets after the last chunk hold no elements
    }
}

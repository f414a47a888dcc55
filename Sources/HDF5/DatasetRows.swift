import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// A float32 dataset in this module's layout (chunked along the first dimension, Fletcher32)
/// written a few rows at a time, in order, from a buffer the caller refills: for data that is
/// never whole in one place (a checkpoint's Adam moments, gathered from the ranks that own them
/// window by window). Each chunk is prepared as `writeVerified` prepares it (zero-padded tail,
/// Fletcher32 appended) and handed to HDF5 finished (`H5Dwrite_chunk`), so the file is the same.
public final class FloatDatasetStream {
    public let name: String
    public let shape: [Int]
    public private(set) var rowsWritten = 0
    let file: H5File
    let dataset: hid_t
    let chunkRows: Int
    let rowBytes: Int
    private let buffer: UnsafeMutableRawPointer   // one chunk + its checksum

    /// Creates the dataset (and the groups on its path).
    public init(file: H5File, name: String, shape: [Int]) throws {
        self.file = file
        self.name = name
        self.shape = shape
        chunkRows = H5File.chunkRows(shape)
        rowBytes = H5File.rowBytes(shape)
        dataset = try file.createDataset(name, shape: shape, fileType: atelier_h5t_ieee_f32le())
        buffer = .allocate(byteCount: chunkRows * rowBytes + 4, alignment: 64)
    }

    deinit {
        H5Dclose(dataset)
        buffer.deallocate()
    }

    /// Bytes a stream holds for a dataset of `shape`: one chunk and its checksum.
    public static func bufferBytes(shape: [Int]) -> Int { H5File.chunkBytes(shape) + 4 }

    /// Appends the next `rows` rows from `source` [rows x row length]. Every call but the one that
    /// reaches the last row must append whole chunks (a multiple of the chunk's rows).
    public func append(_ source: UnsafePointer<Float>, rows: Int) throws {
        precondition(rowsWritten + rows <= shape[0] && (rows % chunkRows == 0 || rowsWritten + rows == shape[0]),
                     "rows appended out of the dataset's chunks")
        let rank = shape.count
        for first in stride(from: 0, to: rows, by: chunkRows) {
            let valid = min(chunkRows, rows - first) * rowBytes
            H5File.prepareChunk(buffer, from: UnsafeRawPointer(source) + first * rowBytes, validBytes: valid,
                                chunkBytes: chunkRows * rowBytes)
            var offset = [hsize_t](repeating: 0, count: rank)
            offset[0] = hsize_t(rowsWritten + first)
            errno = 0
            guard H5Dwrite_chunk(dataset, atelier_h5p_default(), 0, offset, chunkRows * rowBytes + 4, buffer) >= 0 else {
                throw HDF5Error(file: file.path, object: name, problem: "write failed: \(H5File.systemReason())")
            }
        }
        rowsWritten += rows
    }
}

extension H5File {
    /// Reads rows `rows` of a float32 dataset that must have exactly `shape` into `data`
    /// [rows.count x row length], through HDF5 (a hyperslab: only the chunks holding those rows
    /// are read, and their checksums verified).
    public func read(_ name: String, shape expected: [Int], rows: Range<Int>, into data: UnsafeMutablePointer<Float>) throws {
        try withDataset(name) { dataset in
            let shape = try checkedShape(dataset, name: name, kind: .float32)
            guard shape == expected, !shape.isEmpty, rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
                throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected \(expected) (reading rows \(rows))")
            }
            guard !rows.isEmpty, shape.reduce(1, *) > 0 else { return }
            var start = [hsize_t](repeating: 0, count: shape.count), count = shape.map { hsize_t($0) }
            start[0] = hsize_t(rows.lowerBound)
            count[0] = hsize_t(rows.count)
            let fileSpace = H5Dget_space(dataset)
            guard fileSpace >= 0 else { throw HDF5Error(file: path, object: name, problem: "has an unreadable shape") }
            defer { H5Sclose(fileSpace) }
            let memorySpace = H5Screate_simple(Int32(count.count), count, nil)
            guard memorySpace >= 0 else { throw HDF5Error(file: path, object: name, problem: "cannot describe rows \(rows)") }
            defer { H5Sclose(memorySpace) }
            guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, count, nil) >= 0,
                  H5Dread(dataset, atelier_h5t_native_float(), memorySpace, fileSpace, atelier_h5p_default(), data) >= 0 else {
                throw HDF5Error(file: path, object: name, problem: "cannot be read: checksum mismatch or damaged data (rows \(rows))")
            }
        }
    }
}

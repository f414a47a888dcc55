import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// An HDF5 error, naming the file and the object it concerns.
public struct HDF5Error: Error, CustomStringConvertible {
    public let file: String
    public let object: String
    public let problem: String
    public var description: String { "\(file): \(object.isEmpty ? "" : "dataset '\(object)': ")\(problem)" }
}

/// One HDF5 file, open for writing (new) or reading. Datasets are addressed by path
/// ("/model/transformer.ln_f.weight"); groups on the way are created as needed. Every dataset this
/// module writes is chunked with HDF5's Fletcher32 checksum filter, which HDF5 verifies on read.
public final class H5File {
    public let path: String
    let id: hid_t

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    /// Creates a new file; fails if one exists at `path`.
    public static func create(_ path: String) throws -> H5File {
        atelier_h5_silence_errors()
        let id = H5Fcreate(path, atelier_h5f_acc_excl(), atelier_h5p_default(), atelier_h5p_default())
        guard id >= 0 else { throw HDF5Error(file: path, object: "", problem: "cannot create the HDF5 file") }
        return H5File(path: path, id: id)
    }

    /// Opens an existing file read-only.
    public static func open(_ path: String) throws -> H5File {
        atelier_h5_silence_errors()
        guard H5Fis_hdf5(path) > 0 else {
            throw HDF5Error(file: path, object: "", problem: "not a readable HDF5 file (missing, truncated or not HDF5)")
        }
        let id = H5Fopen(path, atelier_h5f_acc_rdonly(), atelier_h5p_default())
        guard id >= 0 else { throw HDF5Error(file: path, object: "", problem: "cannot open the HDF5 file") }
        return H5File(path: path, id: id)
    }

    /// The system's reason for the last failed call (errno), as far as HDF5 left it.
    static func systemReason() -> String { errno != 0 ? String(cString: strerror(errno)) : "HDF5 gives no system reason" }

    /// Writes everything buffered to the file (the caller fsyncs the file afterwards).
    public func flush() throws {
        errno = 0
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5Error(file: path, object: "", problem: "flush failed: \(Self.systemReason())") }
    }

    public func close() throws {
        errno = 0
        guard H5Fclose(id) >= 0 else { throw HDF5Error(file: path, object: "", problem: "close failed (data may not be on disk): \(Self.systemReason())") }
    }

    public func exists(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += "/" + part
            guard H5Lexists(id, prefix, atelier_h5p_default()) > 0 else { return false }
        }
        return true
    }

    // MARK: writing

    /// Writes a float32 dataset of `shape` from `data` (row-major, shape.product floats).
    public func write(_ name: String, shape: [Int], floats data: UnsafePointer<Float>) throws {
        try write(name, shape: shape, memoryType: atelier_h5t_native_float(), fileType: atelier_h5t_ieee_f32le(),
                  elementBytes: 4, data: UnsafeRawPointer(data))
    }

    public func write(_ name: String, int64 values: [Int64]) throws {
        try values.withUnsafeBytes { raw in
            try write(name, shape: [values.count], memoryType: atelier_h5t_native_int64(), fileType: atelier_h5t_std_i64le(),
                      elementBytes: 8, data: raw.baseAddress!)
        }
    }

    public func write(_ name: String, doubles values: [Double]) throws {
        try values.withUnsafeBytes { raw in
            try write(name, shape: [values.count], memoryType: atelier_h5t_native_double(), fileType: atelier_h5t_ieee_f64le(),
                      elementBytes: 8, data: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!)
        }
    }

    /// Text as a uint8 dataset (checksummed like the rest; h5py reads it as bytes).
    public func write(_ name: String, text: String) throws {
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBytes { raw in
            try write(name, shape: [max(bytes.count, 0)], memoryType: atelier_h5t_native_uint8(), fileType: atelier_h5t_std_u8le(),
                      elementBytes: 1, data: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
        }
    }

    private func write(_ name: String, shape: [Int], memoryType: hid_t, fileType: hid_t, elementBytes: Int,
                       data: UnsafeRawPointer) throws {
        let dataset = try createDataset(name, shape: shape, fileType: fileType)
        defer { H5Dclose(dataset) }
        if shape.reduce(1, *) > 0 {
            guard H5Dwrite(dataset, memoryType, atelier_h5s_all(), atelier_h5s_all(), atelier_h5p_default(), data) >= 0 else {
                throw HDF5Error(file: path, object: name, problem: "write failed (disk full?)")
            }
        }
    }

    /// Rows per chunk: chunks of about 1M elements along the first dimension.
    public static func chunkRows(_ shape: [Int]) -> Int {
        max(1, min(shape[0], (1 << 20) / max(1, shape.dropFirst().reduce(1, *))))
    }

    /// Creates a dataset (and the groups on its path) in this module's layout: chunked along the
    /// first dimension with Fletcher32 (which needs chunking) when it has elements. The caller closes it.
    func createDataset(_ name: String, shape: [Int], fileType: hid_t) throws -> hid_t {
        func fail(_ what: String) -> HDF5Error { HDF5Error(file: path, object: name, problem: what) }
        let dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), dims, nil)
        guard space >= 0 else { throw fail("cannot describe its shape \(shape)") }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(atelier_h5p_dataset_create())
        defer { H5Pclose(dcpl) }
        if shape.reduce(1, *) > 0 {
            var chunk = dims
            chunk[0] = hsize_t(Self.chunkRows(shape))
            H5Pset_chunk(dcpl, Int32(chunk.count), chunk)
            H5Pset_fletcher32(dcpl)
        }
        let lcpl = H5Pcreate(atelier_h5p_link_create())
        H5Pset_create_intermediate_group(lcpl, 1)
        defer { H5Pclose(lcpl) }
        let dataset = H5Dcreate2(id, name, fileType, space, lcpl, dcpl, atelier_h5p_default())
        guard dataset >= 0 else { throw fail("cannot create it") }
        return dataset
    }

    // MARK: reading

    /// The shape of a dataset, after checking it holds `kind` elements.
    public func shape(_ name: String, kind: ElementKind) throws -> [Int] {
        try withDataset(name) { dataset in try checkedShape(dataset, name: name, kind: kind) }
    }

    public enum ElementKind: String { case float32, float64, int64, uint8 }

    /// Reads a float32 dataset that must have exactly `shape` into `data`.
    public func read(_ name: String, shape expected: [Int], into data: UnsafeMutablePointer<Float>) throws {
        try withDataset(name) { dataset in
            let shape = try checkedShape(dataset, name: name, kind: .float32)
            guard shape == expected else {
                throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected \(expected)")
            }
            try readAll(dataset, name: name, memoryType: atelier_h5t_native_float(), shape: shape, into: UnsafeMutableRawPointer(data))
        }
    }

    public func readInt64(_ name: String, maxCount: Int = 1 << 16) throws -> [Int64] {
        try withDataset(name) { dataset in
            let shape = try checkedShape(dataset, name: name, kind: .int64)
            let n = shape.reduce(1, *)
            guard shape.count == 1, n <= maxCount else {
                throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected a vector of at most \(maxCount)")
            }
            var out = [Int64](repeating: 0, count: n)
            try out.withUnsafeMutableBytes { raw in
                try readAll(dataset, name: name, memoryType: atelier_h5t_native_int64(), shape: shape, into: raw.baseAddress!)
            }
            return out
        }
    }

    public func readDoubles(_ name: String, maxCount: Int = 1 << 16) throws -> [Double] {
        try withDataset(name) { dataset in
            let shape = try checkedShape(dataset, name: name, kind: .float64)
            let n = shape.reduce(1, *)
            guard shape.count == 1, n <= maxCount else {
                throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected a vector of at most \(maxCount)")
            }
            var out = [Double](repeating: 0, count: n)
            try out.withUnsafeMutableBytes { raw in
                try readAll(dataset, name: name, memoryType: atelier_h5t_native_double(), shape: shape, into: raw.baseAddress!)
            }
            return out
        }
    }

    public func readText(_ name: String, maxBytes: Int = 16 << 20) throws -> String {
        try withDataset(name) { dataset in
            let shape = try checkedShape(dataset, name: name, kind: .uint8)
            let n = shape.reduce(1, *)
            guard shape.count == 1, n <= maxBytes else {
                throw HDF5Error(file: path, object: name, problem: "has shape \(shape), expected text of at most \(maxBytes) bytes")
            }
            var bytes = [UInt8](repeating: 0, count: n)
            if n > 0 {
                try bytes.withUnsafeMutableBytes { raw in
                    try readAll(dataset, name: name, memoryType: atelier_h5t_native_uint8(), shape: shape, into: raw.baseAddress!)
                }
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw HDF5Error(file: path, object: name, problem: "is not valid UTF-8 text")
            }
            return text
        }
    }

    func withDataset<T>(_ name: String, _ body: (hid_t) throws -> T) throws -> T {
        guard exists(name) else { throw HDF5Error(file: path, object: name, problem: "is missing") }
        let dataset = H5Dopen2(id, name, atelier_h5p_default())
        guard dataset >= 0 else { throw HDF5Error(file: path, object: name, problem: "cannot be opened (not a dataset, or a damaged header)") }
        defer { H5Dclose(dataset) }
        return try body(dataset)
    }

    func checkedShape(_ dataset: hid_t, name: String, kind: ElementKind) throws -> [Int] {
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw HDF5Error(file: path, object: name, problem: "has an unreadable type") }
        defer { H5Tclose(type) }
        let cls = H5Tget_class(type), size = H5Tget_size(type)
        let ok: Bool
        switch kind {
        case .float32: ok = cls == H5T_FLOAT && size == 4
        case .float64: ok = cls == H5T_FLOAT && size == 8
        case .int64: ok = cls == H5T_INTEGER && size == 8 && H5Tget_sign(type) == H5T_SGN_2
        case .uint8: ok = cls == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_NONE
        }
        guard ok, H5Tget_order(type) == H5T_ORDER_LE || size == 1 else {
            throw HDF5Error(file: path, object: name, problem: "holds the wrong element type (expected little-endian \(kind.rawValue))")
        }
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw HDF5Error(file: path, object: name, problem: "has an unreadable shape") }
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0, rank <= 8 else { throw HDF5Error(file: path, object: name, problem: "has an absurd rank \(rank)") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        H5Sget_simple_extent_dims(space, &dims, nil)
        // Refuse absurd sizes before anything is allocated for them.
        var total: UInt64 = 1
        for d in dims {
            let (product, overflow) = total.multipliedReportingOverflow(by: UInt64(d))
            guard !overflow, product <= 1 << 40 else {
                throw HDF5Error(file: path, object: name, problem: "has absurd dimensions \(dims)")
            }
            total = product
        }
        return dims.map { Int($0) }
    }

    /// Reads a dataset of `shape` (as `checkedShape` returned it) into `data`, in `memoryType`.
    private func readAll(_ dataset: hid_t, name: String, memoryType: hid_t, shape: [Int], into data: UnsafeMutableRawPointer) throws {
        guard !shape.isEmpty else { throw HDF5Error(file: path, object: name, problem: "has shape [], expected 1 elements") }
        guard shape.reduce(1, *) > 0 else { return }
        let elementSize = Int(H5Tget_size(memoryType))
        if let chunks = try storedChunks(dataset, name: name, shape: shape, elementSize: elementSize) {
            try readChunks(chunks, name: name, shape: shape, elementSize: elementSize, into: data)
            return
        }
        // No filters: HDF5 reads the stored bytes as they are.
        guard H5Dread(dataset, memoryType, atelier_h5s_all(), atelier_h5s_all(), atelier_h5p_default(), data) >= 0 else {
            throw HDF5Error(file: path, object: name, problem: "cannot be read: damaged data")
        }
    }
}

import AtelierJob
import AtelierModel
import HDF5

/// The training counters a checkpoint carries: where the run is, independent of the world size.
public struct TrainingCounters: Equatable, Sendable {
    public var iteration = 0
    public var consumedSamples = 0          // also the data cursor: the next stream position
    public var consumedTokens = 0
    public var skippedIterations = 0
    public var consecutiveSkips = 0
    public var optimizerStep = 0            // AdamW updates applied (bias correction)
    public init() {}

    /// The one packing of the counters (/state/counters, and what rank 0 broadcasts on a resume).
    nonisolated(unsafe) static let fields: [WritableKeyPath<TrainingCounters, Int>] = [
        \.iteration, \.consumedSamples, \.consumedTokens, \.skippedIterations, \.consecutiveSkips, \.optimizerStep,
    ]

    public var packed: [Int64] { Self.fields.map { Int64(self[keyPath: $0]) } }

    /// Counters from `packed` values; nil unless there are exactly as many, each in [0, 2^53).
    public init?(packed: [Int64]) {
        guard packed.count == Self.fields.count, packed.allSatisfy({ $0 >= 0 && $0 < 1 << 53 }) else { return nil }
        for (field, value) in zip(Self.fields, packed) { self[keyPath: field] = Int(value) }
    }
}

/// What a checkpoint holds besides the tensors.
public struct CheckpointInfo: Sendable {
    public let counters: TrainingCounters
    public let jobText: String
    public let worldSizeAtSave: Int
    public let programVersion: String
    public let accounting: NamedNumbers
    /// Texts another stage carries as they are (`CarriedTexts`): the model's lineage, its newest validation.
    public let carried: CarriedTexts

    public init(counters: TrainingCounters, jobText: String, worldSizeAtSave: Int, programVersion: String,
                accounting: NamedNumbers = NamedNumbers(), carried: CarriedTexts = CarriedTexts()) {
        self.counters = counters
        self.accounting = accounting
        self.carried = carried
        self.jobText = jobText
        self.worldSizeAtSave = worldSizeAtSave
        self.programVersion = programVersion
    }
}

/// Errors loading a checkpoint, each naming the file (and the dataset or field).
public enum CheckpointError: Error, CustomStringConvertible {
    case unreadable(HDF5Error)
    case notACheckpoint(file: String)
    case unknownFormat(file: String, version: Int64)
    case shapeMismatch(file: String, field: String, inCheckpoint: Int, inJob: Int)
    case invalidContents(file: String, dataset: String, reason: String)
    case noValidCheckpoint(directory: String, tried: [String])

    public var description: String {
        switch self {
        case .unreadable(let e): return "\(e)"
        case .notACheckpoint(let file): return "\(file): not an atelier checkpoint (no /meta/format_version)"
        case .unknownFormat(let file, let v):
            return "\(file): checkpoint format version \(v) is not one this atelier reads (it reads version \(CheckpointFile.formatVersion)); use the atelier release that wrote it"
        case .shapeMismatch(let file, let field, let c, let j):
            return "\(file): the checkpoint's \(field) is \(c) but the job says \(j); resume with the job file that made it, or start a new run directory"
        case .invalidContents(let file, let dataset, let reason): return "\(file): dataset '\(dataset)': \(reason)"
        case .noValidCheckpoint(let dir, let tried):
            return "\(dir): no loadable checkpoint among \(tried.joined(separator: ", ")); move the run directory aside to start again"
        }
    }
}

/// Where a save finds the Adam moments.
public enum MomentSource {
    /// Whole buffers [P], laid out like the parameters.
    case buffers(expAvg: UnsafePointer<Float>, expAvgSq: UnsafePointer<Float>)
    /// Window by window (`MomentWindows.plan(layout:maxFloats:)`, in order): `fill(window, m, v)`
    /// puts the window's moments [window.range.count] into m and v, e.g. gathered from the ranks
    /// that own them. The file is the same.
    case windows(maxFloats: Int, fill: (MomentWindows.Window, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> Void)
}

/// The checkpoint format, version 1 (docs/checkpoint-format.md): one HDF5 file, nothing in it
/// depends on the number of ranks, every dataset checksummed (Fletcher32).
public enum CheckpointFile {
    public static let formatVersion: Int64 = 1

    /// Writes a complete checkpoint to a new file at `path`.
    public static func write(path: String, layout: ParameterLayout, params: FloatBuffer, expAvg: FloatBuffer,
                             expAvgSq: FloatBuffer, counters: TrainingCounters, jobText: String,
                             worldSize: Int, programVersion: String, accounting: NamedNumbers = NamedNumbers(),
                             carried: CarriedTexts = CarriedTexts(), beforeClose: () -> Void = {}) throws {
        try write(path: path, layout: layout, params: params, moments: .buffers(expAvg: expAvg.base, expAvgSq: expAvgSq.base),
                  counters: counters, jobText: jobText, worldSize: worldSize, programVersion: programVersion, accounting: accounting,
                  carried: carried, beforeClose: beforeClose)
    }

    /// Writes a complete checkpoint to a new file at `path`, the moments from `moments`.
    /// `beforeClose` runs once every tensor is written, before the file is flushed and closed
    /// (where the training run's `save` fault drill strikes).
    public static func write(path: String, layout: ParameterLayout, params: FloatBuffer, moments: MomentSource,
                             counters: TrainingCounters, jobText: String, worldSize: Int, programVersion: String,
                             accounting: NamedNumbers = NamedNumbers(), carried: CarriedTexts = CarriedTexts(),
                             beforeClose: () -> Void = {}) throws {
        let file = try H5File.create(path)
        var closed = false
        defer { if !closed { try? file.close() } }
        try file.write("/meta/format_version", int64: [formatVersion])
        try file.write("/meta/program_version", text: programVersion)
        try file.write("/meta/world_size_at_save", int64: [Int64(worldSize)])
        let s = layout.shape
        try file.write("/config/model", int64: [s.vocabSize, s.hiddenSize, s.layers, s.heads, s.sequenceLength].map(Int64.init))
        try file.write("/config/job_toml", text: jobText)
        try file.write("/state/counters", int64: counters.packed)
        if !accounting.values.isEmpty {
            try file.write("/state/accounting", doubles: accounting.values)
            try file.write("/state/accounting_names", text: accounting.names.joined(separator: "\n"))
        }
        for (dataset, text) in carried.datasets { try file.write(dataset, text: text) }
        switch moments {
        case .buffers(let expAvg, let expAvgSq):
            try file.writeVerified(layout.tensors.flatMap { t in
                [FloatDatasetWrite(name: "/model/\(t.name)", shape: t.shape, source: params.base + t.offset),
                 FloatDatasetWrite(name: "/optimizer/exp_avg/\(t.name)", shape: t.shape, source: expAvg + t.offset),
                 FloatDatasetWrite(name: "/optimizer/exp_avg_sq/\(t.name)", shape: t.shape, source: expAvgSq + t.offset)]
            })
        case .windows(let maxFloats, let fill):
            try file.writeVerified(layout.tensors.map { t in
                FloatDatasetWrite(name: "/model/\(t.name)", shape: t.shape, source: params.base + t.offset)
            })
            try writeMoments(file, layout: layout, windows: MomentWindows.plan(layout: layout, maxFloats: maxFloats), fill: fill)
        }
        beforeClose()
        try file.flush()
        closed = true
        try file.close()
    }

    /// The moments' datasets, each written as its windows arrive (one tensor's m and v streams open
    /// at a time); the windows are refilled in one pair of buffers.
    static func writeMoments(_ file: H5File, layout: ParameterLayout, windows: [MomentWindows.Window],
                             fill: (MomentWindows.Window, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> Void) throws {
        let largest = max(1, windows.map(\.range.count).max() ?? 0)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: largest), v = UnsafeMutablePointer<Float>.allocate(capacity: largest)
        defer { m.deallocate(); v.deallocate() }
        var open: (tensor: Int, m: FloatDatasetStream, v: FloatDatasetStream)?
        var created = 0   // tensors whose datasets exist
        func streams(through tensor: Int) throws -> (m: FloatDatasetStream, v: FloatDatasetStream) {
            if let open, open.tensor == tensor { return (open.m, open.v) }
            open = nil
            // Tensors without elements have no windows; their datasets are created on the way.
            while created <= tensor {
                let t = layout.tensors[created]
                let pair = (try FloatDatasetStream(file: file, name: "/optimizer/exp_avg/\(t.name)", shape: t.shape),
                            try FloatDatasetStream(file: file, name: "/optimizer/exp_avg_sq/\(t.name)", shape: t.shape))
                if created == tensor { open = (tensor, pair.0, pair.1) }
                created += 1
            }
            return (open!.m, open!.v)
        }
        for window in windows {
            try fill(window, m, v)
            for piece in window.pieces {
                let pair = try streams(through: piece.tensor), at = piece.flat.lowerBound - window.range.lowerBound
                try pair.m.append(m + at, rows: piece.rows.count)
                try pair.v.append(v + at, rows: piece.rows.count)
            }
        }
        open = nil
        if !layout.tensors.isEmpty && created < layout.tensors.count { _ = try streams(through: layout.tensors.count - 1) }
    }

    static let modelFields = ["model.vocab_size", "model.hidden_size", "model.layers", "model.heads"]

    /// Reads a checkpoint into the buffers, after checking its format and that its model shape is
    /// the job's. Every read is bounded by the expected shapes; checksums are verified by HDF5.
    /// Reads a checkpoint into `params` and, when given, the Adam moments (export and generate,
    /// which need only the weights, pass nil and allocate a third of the memory).
    public static func read(path: String, layout: ParameterLayout, params: FloatBuffer, expAvg: FloatBuffer?,
                            expAvgSq: FloatBuffer?) throws -> CheckpointInfo {
        do {
            let file = try H5File.open(path)
            defer { try? file.close() }
            guard file.exists("/meta/format_version") else { throw CheckpointError.notACheckpoint(file: path) }
            let version = try file.readInt64("/meta/format_version", maxCount: 1)
            guard version == [formatVersion] else { throw CheckpointError.unknownFormat(file: path, version: version.first ?? -1) }
            let config = try file.readInt64("/config/model", maxCount: 5)
            let s = layout.shape
            let expected = [s.vocabSize, s.hiddenSize, s.layers, s.heads]
            guard config.count == 5 else { throw CheckpointError.invalidContents(file: path, dataset: "/config/model", reason: "has \(config.count) entries, expected 5") }
            for (i, field) in modelFields.enumerated() where Int(config[i]) != expected[i] {
                throw CheckpointError.shapeMismatch(file: path, field: field, inCheckpoint: Int(config[i]), inJob: expected[i])
            }
            _ = try readCounters(file, path: path)   // a bad counter is named before gigabytes are read
            try file.readVerified(layout.tensors.flatMap { t in
                [FloatDatasetRead(name: "/model/\(t.name)", shape: t.shape, destination: params.base + t.offset)]
                    + (expAvg.map { [FloatDatasetRead(name: "/optimizer/exp_avg/\(t.name)", shape: t.shape, destination: $0.base + t.offset)] } ?? [])
                    + (expAvgSq.map { [FloatDatasetRead(name: "/optimizer/exp_avg_sq/\(t.name)", shape: t.shape, destination: $0.base + t.offset)] } ?? [])
            })
            return try readInfo(file, path: path)
        } catch let error as HDF5Error {
            throw CheckpointError.unreadable(error)
        }
    }

    /// What a checkpoint holds besides the tensors, without reading them (`atelier report --lineage`
    /// on a large model reads kilobytes, not gigabytes). Checks the format.
    public static func readInfo(path: String) throws -> CheckpointInfo {
        do {
            let file = try H5File.open(path)
            defer { try? file.close() }
            guard file.exists("/meta/format_version") else { throw CheckpointError.notACheckpoint(file: path) }
            let version = try file.readInt64("/meta/format_version", maxCount: 1)
            guard version == [formatVersion] else { throw CheckpointError.unknownFormat(file: path, version: version.first ?? -1) }
            return try readInfo(file, path: path)
        } catch let error as HDF5Error {
            throw CheckpointError.unreadable(error)
        }
    }

    static func readCounters(_ file: H5File, path: String) throws -> TrainingCounters {
        let count = TrainingCounters().packed.count
        let raw = try file.readInt64("/state/counters", maxCount: count)
        guard let counters = TrainingCounters(packed: raw) else {
            throw CheckpointError.invalidContents(file: path, dataset: "/state/counters", reason: "\(raw) are not \(count) non-negative integers")
        }
        return counters
    }

    static func readInfo(_ file: H5File, path: String) throws -> CheckpointInfo {
        let counters = try readCounters(file, path: path)
        let world = try file.readInt64("/meta/world_size_at_save", maxCount: 1)
        return CheckpointInfo(counters: counters, jobText: try file.readText("/config/job_toml"),
                              worldSizeAtSave: Int(world.first ?? 0),
                              programVersion: try file.readText("/meta/program_version", maxBytes: 256),
                              accounting: try readAccounting(file, path: path), carried: try CarriedTexts(file))
    }

    /// The accounting numbers, with their names; none for a checkpoint written before accounting
    /// existed, and no names (the writer's order) for one written before they were stored.
    static func readAccounting(_ file: H5File, path: String) throws -> NamedNumbers {
        guard file.exists("/state/accounting") else { return NamedNumbers() }
        let values = try file.readDoubles("/state/accounting", maxCount: 64)
        guard file.exists("/state/accounting_names") else { return NamedNumbers(values: values) }
        let names = try file.readText("/state/accounting_names", maxBytes: 4096).split(separator: "\n").map(String.init)
        guard names.count == values.count else {
            throw CheckpointError.invalidContents(file: path, dataset: "/state/accounting_names",
                                                  reason: "\(names.count) names for \(values.count) values")
        }
        return NamedNumbers(names: names, values: values)
    }
}

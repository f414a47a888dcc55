import AtelierCore
import AtelierAccounting
import AtelierCheckpoint
import AtelierData
import AtelierJob
import AtelierModel
import AtelierTokenizer
import Foundation

/// The parsers of untrusted input, each as a fuzz target: any input must give a value or a
/// thrown error, never a crash, a hang or unbounded memory. Used by the coverage-guided fuzzer
/// (`atelier-fuzz`, built with -sanitize=fuzzer by .ci/fuzz) and by the regression tests, which
/// replay the seeds and every crash once found (Tests/FuzzRegressionTests/Inputs/TARGET/).
public enum FuzzTarget: String, CaseIterable, Sendable {
    case jobFile = "job-file"
    case clusterProfile = "cluster-profile"
    case checkpoint
    case tokenizerJSON = "tokenizer-json"
    case indexedDataset = "indexed-dataset"
    case jsonLines = "json-lines"

    /// Parses `data` as this target's input; returns whether it was accepted (errors are fine).
    @discardableResult
    public func run(_ data: Data) -> Bool {
        do {
            switch self {
            case .jobFile:
                _ = try Job.parse(text: String(decoding: data, as: UTF8.self), file: "fuzz.toml")
            case .clusterProfile:
                _ = try ClusterProfile.parse(text: String(decoding: data, as: UTF8.self), file: "fuzz.toml", host: Self.host)
            case .checkpoint:
                let path = try Self.scratch("checkpoint.h5", data)
                // as `atelier checkpoint verify` reads it (shape from the file), then as a resume does
                _ = try CheckpointSummary.verify(path: path)
                let layout = ParameterLayout(shape: Self.checkpointShape)
                let buffers = (FloatBuffer(count: layout.count), FloatBuffer(count: layout.count), FloatBuffer(count: layout.count))
                _ = try CheckpointFile.read(path: path, layout: layout, params: buffers.0, expAvg: buffers.1, expAvgSq: buffers.2)
            case .tokenizerJSON:
                let tokenizer = try BPETokenizer.load(path: try Self.scratch("tokenizer.json", data))
                _ = tokenizer.decode(tokenizer.encode("fuzz: Grüße, мир 世界 <s>"))
            case .indexedDataset:
                // input: 4-byte little-endian length of the .idx, the .idx, then the .bin
                guard data.count >= 4 else { return false }
                let n = Int(data.prefix(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self).littleEndian })
                let idx = data.dropFirst(4).prefix(n), bin = data.dropFirst(4 + idx.count)
                _ = try Self.scratch("data.idx", Data(idx))
                let prefix = String(try Self.scratch("data.bin", Data(bin)).dropLast(4))
                // as training reads it: every document, and every token checked against a vocabulary
                let reader = try IndexedDatasetReader(prefix: prefix)
                _ = (0...reader.documentCount).reduce(0) { $0 &+ reader.documentStart($1) }
                var window = [Int32](repeating: 0, count: 64)
                for start in stride(from: 0, to: reader.tokenCount, by: window.count) {
                    let count = min(window.count, reader.tokenCount - start)
                    try window.withUnsafeMutableBufferPointer {
                        try reader.copyTokens(from: start, count: count, vocabularySize: 1 << 16, into: $0.baseAddress!)
                    }
                }
            case .jsonLines:
                _ = try JSONLinesReader.read(path: try Self.scratch("input.jsonl", data))
            }
            return true
        } catch {
            return false
        }
    }

    /// The tiny model the checkpoint seeds were written for.
    public static let checkpointShape = ModelShape(vocabSize: 64, hiddenSize: 16, layers: 1, heads: 2, sequenceLength: 8, initStd: nil)

    /// Fixed host facts, so "detect" fields do not read this machine on every input.
    static let host = HostFacts(cpuModel: "fuzz cpu", cores: 2, ramGB: 4)

    /// Writes `data` to a file in this process's scratch directory (in memory where possible).
    static func scratch(_ name: String, _ data: Data) throws -> String {
        try? FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        let path = scratchDirectory + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    static let scratchDirectory: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/atelier-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Removes the scratch directory (at exit).
    public static func cleanUp() { try? FileManager.default.removeItem(atPath: scratchDirectory) }
}

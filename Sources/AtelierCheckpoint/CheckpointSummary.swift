import AtelierCore
import AtelierJob
import Foundation
import AtelierModel
import HDF5

/// What `atelier checkpoint inspect` shows, read without a job file.
public struct CheckpointSummary: Sendable {
    public let path: String
    public let shape: ModelShape
    public let info: CheckpointInfo
    public let tensors: [(name: String, shape: [Int])]
    /// `ParameterLayout.hash` of the weights: what `atelier train` prints when it starts from them.
    public let weightsHash: UInt64

    /// Reads the file's own model config (bounded: a hostile file cannot make us allocate
    /// absurd buffers), then every dataset against it, verifying all checksums.
    public static func verify(path: String) throws -> CheckpointSummary {
        let shape = try modelShape(path: path)
        let layout = ParameterLayout(shape: shape)
        let what = "the parameters and moments of \(path)", advice = "its model is too large to verify on this machine"
        let params = try FloatBuffer(count: layout.count, for: what, advice: advice),
            m = try FloatBuffer(count: layout.count, for: what, advice: advice), v = try FloatBuffer(count: layout.count, for: what, advice: advice)
        let info = try CheckpointFile.read(path: path, layout: layout, params: params, expAvg: m, expAvgSq: v)
        return CheckpointSummary(path: path, shape: shape, info: info, tensors: layout.tensors.map { ($0.name, $0.shape) },
                                 weightsHash: layout.hash(params))
    }

    /// The model shape a checkpoint declares, refused when it is not a plausible BLOOM shape.
    public static func modelShape(path: String) throws -> ModelShape {
        do {
            let file = try H5File.open(path)
            defer { try? file.close() }
            guard file.exists("/meta/format_version") else { throw CheckpointError.notACheckpoint(file: path) }
            let version = try file.readInt64("/meta/format_version", maxCount: 1)
            guard version == [CheckpointFile.formatVersion] else {
                throw CheckpointError.unknownFormat(file: path, version: version.first ?? -1)
            }
            let c = try file.readInt64("/config/model", maxCount: 5).map(Int.init)
            guard c.count == 5,
                  (2...(1 << 24)).contains(c[0]), (1...(1 << 16)).contains(c[1]), (1...4096).contains(c[2]),
                  (1...c[1]).contains(c[3]), c[1] % c[3] == 0, (2...(1 << 20)).contains(c[4]),
                  (c[2] * 13 * c[1] * c[1] + c[0] * c[1]) <= 1 << 34 else {
                throw CheckpointError.invalidContents(file: path, dataset: "/config/model", reason: "\(c) is not a plausible model shape")
            }
            return ModelShape(vocabSize: c[0], hiddenSize: c[1], layers: c[2], heads: c[3], sequenceLength: c[4])
        } catch let error as HDF5Error {
            throw CheckpointError.unreadable(error)
        }
    }

    public var text: String {
        let c = info.counters
        let parameters = tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        var lines = [
            "\(path): atelier checkpoint, format version \(CheckpointFile.formatVersion), written by atelier \(info.programVersion) on \(info.worldSizeAtSave) rank\(info.worldSizeAtSave == 1 ? "" : "s")",
            "model: vocab \(shape.vocabSize), hidden \(shape.hiddenSize), \(shape.layers) layers, \(shape.heads) heads, sequence \(shape.sequenceLength); \(parameters) parameters in \(tensors.count) tensors (+ exp_avg, exp_avg_sq)",
            "weights: hash \(String(format: "%016llx", weightsHash))",
            "state: iteration \(c.iteration), \(c.consumedSamples) samples / \(c.consumedTokens) tokens consumed, \(c.skippedIterations) skipped, optimizer step \(c.optimizerStep)",
            "accounting: " + zip(info.accounting.names.isEmpty ? info.accounting.values.indices.map { "#\($0)" } : info.accounting.names, info.accounting.values).map { "\($0)=\($1)" }.joined(separator: " "),
            "job:",
        ]
        lines += info.jobText.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        lines.append("tensors:")
        lines += tensors.map { "  \($0.name) \($0.shape)" }
        return lines.joined(separator: "\n")
    }
}

import AtelierAccounting
import AtelierCheckpoint
import AtelierReport
import AtelierTrain
import Foundation

extension ExportCommand {
    /// The files that say what the exported model is and cost (docs/accounting.md, "Model cards"):
    /// from a checkpoint, atelier-lineage.json (the whole tree, the model's own footprint from the
    /// checkpoint's totals) and README.md (the model card); from a Hugging Face directory, its own
    /// atelier-lineage.json and README.md as they are, when it has them (nothing is made up for a
    /// model from elsewhere).
    static func modelCardFiles(weights: ModelWeights, dtype: TensorDType) throws -> [(name: String, contents: Data)] {
        switch weights.origin {
        case .checkpoint(let info):
            let lineage = try CheckpointLineage.of(checkpoint: info, path: weights.path)
            let validation: NewestValidation?
            do {
                validation = try info.carried.validation.map { try NewestValidation.decode($0, origin: weights.path) }
            } catch let e as LineageError {
                throw CheckpointError.invalidContents(file: weights.path, dataset: "/state/validation", reason: e.problem)
            }
            let card = ModelCard(lineage: lineage, shape: weights.shape, parameters: weights.layout.count, dtype: dtype.torchName,
                                 exportedFrom: "iteration \(info.counters.iteration) of `\(weights.path)`", validation: validation)
            return [(LineageFile.name, LineageFile.encode(lineage)), ("README.md", Data(card.markdown.utf8))]
        case .huggingFace:
            var files: [(name: String, contents: Data)] = []
            if let lineage = try LineageFile.read(directory: weights.path) { files.append((LineageFile.name, LineageFile.encode(lineage))) }
            if let card = FileManager.default.contents(atPath: weights.path + "/README.md") { files.append(("README.md", card)) }
            return files
        }
    }
}

import Foundation

/// A model's newest validation, per dataset (a language): what a checkpoint carries
/// (`/state/validation`) so that a model card can say how good the exported model is without the
/// ledger or metrics.jsonl at hand. Only finite results are kept, as in the ledger.
public struct NewestValidation: Codable, Equatable, Sendable {
    public var iteration: Int
    public var results: [ValidationRecord]

    public init(iteration: Int, results: [ValidationRecord]) {
        self.iteration = iteration
        self.results = results.filter { $0.loss.isFinite && $0.bitsPerByte.isFinite }
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)   // finite numbers only: cannot fail
    }

    /// Decodes `text`; `origin` names where it came from in the error.
    public static func decode(_ text: String, origin: String) throws -> NewestValidation {
        do {
            let v = try JSONDecoder().decode(NewestValidation.self, from: Data(text.utf8))
            guard v.iteration >= 0, v.results.allSatisfy({ $0.loss.isFinite && $0.bitsPerByte.isFinite && !$0.dataset.isEmpty }) else {
                throw LineageError(origin: origin, problem: "a validation with a negative iteration, an empty name or a non-finite figure")
            }
            return v
        } catch let error as DecodingError {
            throw LineageError(origin: origin, problem: "not a validation record: \(LineageFile.describe(error))")
        }
    }
}

/// A buffer sized by the job (or by a file) could not be allocated: the machine, or the process's
/// limit, does not have the memory, or the size does not even fit in 64 bits. Printed as is.
public struct AllocationFailed: Error, CustomStringConvertible, Equatable {
    public let what: String      // e.g. "the activations"
    public let floats: Int?      // nil: the count itself overflowed
    public let advice: String

    /// What to change when a job's buffer does not fit.
    public static let jobAdvice = "`atelier estimate JOB` shows what the job needs per rank; lower model.hidden_size, model.layers, "
        + "model.vocab_size, batch.micro_batch_size or model.seq_length, or run fewer ranks per node"

    public init(what: String, floats: Int?, advice: String = jobAdvice) {
        self.what = what
        self.floats = floats
        self.advice = advice
    }

    public var description: String {
        let size = floats.map { String(format: "%.3g GB", Double($0) * 4 / 1e9) + " (\($0) floats)" } ?? "more than 2^63 bytes"
        return "could not allocate \(size) for \(what): this process does not have that much memory. " + advice
    }
}

/// A buffer sized by the job could not be allocated: the machine (or the process's limit) does
/// not have the memory, or the size does not even fit in 64 bits. Printed as is to the user.
public struct AllocationFailed: Error, CustomStringConvertible, Equatable {
    public let what: String      // e.g. "the activations"
    public let floats: Int?      // nil: the count itself overflowed

    public init(what: String, floats: Int?) {
        self.what = what
        self.floats = floats
    }

    public var description: String {
        let size = floats.map { String(format: "%.3g GB", Double($0) * 4 / 1e9) + " (\($0) floats)" } ?? "more than 2^63 bytes"
        return "could not allocate \(size) for \(what): this process does not have that much memory. "
            + "`atelier estimate JOB` shows what the job needs per rank; lower model.hidden_size, model.layers, "
            + "model.vocab_size, batch.micro_batch_size or model.seq_length, or run fewer ranks per node"
    }
}

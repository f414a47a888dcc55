/// Where training sequences come from: `sampleCount` windows of `T + 1` tokens, addressed by index.
public protocol TokenSource: Sendable {
    /// Number of distinct samples (windows of T + 1 tokens) in one epoch.
    var sampleCount: Int { get }
    /// Writes sample `index`: inputs [T] = tokens[0..<T], targets [T] = tokens[1...T]. Throws when
    /// the data cannot be given to the model (a token id outside its vocabulary).
    func fill(sample index: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) throws
    /// The names of the datasets (languages) samples come from, in order; empty when the source
    /// is not a mixture (its samples are not told apart).
    var componentNames: [String] { get }
    /// Which of `componentNames` sample `index` comes from (0 when there are none).
    func component(of index: Int) -> Int
}

extension TokenSource {
    public var componentNames: [String] { [] }
    public func component(of index: Int) -> Int { 0 }
}

/// What went wrong reading training data or writing a dataset, naming the file.
public enum DataError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    /// An output (a dataset, a preprocessing part) that could not be written: a failure, not bad input.
    case unwritable(path: String, reason: String)
    case tooSmall(paths: [String], tokens: Int, needed: Int)
    /// Token `position` of the dataset (in sequence `sequence`) has an id the model has no embedding for.
    case tokenOutOfRange(path: String, position: Int, sequence: Int, id: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read training data: \(reason)"
        case .unwritable(let path, let reason):
            return "\(path): cannot be written: \(reason)"
        case .tooSmall(let paths, let tokens, let needed):
            return "\(paths.joined(separator: ", ")): \(tokens) tokens in all, fewer than one sample needs (\(needed)); use more text or a shorter model.seq_length"
        case .tokenOutOfRange(let path, let position, let sequence, let id, let vocabularySize):
            return "\(path): token \(position) (in sequence \(sequence)) has id \(id), outside the model's vocabulary of \(vocabularySize) (model.vocab_size); was the dataset tokenized with another tokenizer?"
        }
    }
}

import AtelierJob
import Foundation

/// Training samples drawn from several indexed datasets (one per language or source) in fixed
/// proportions, deterministically: sample i of an epoch goes to the dataset furthest behind its
/// share (`MixtureBlend`, Megatron's blending), and takes that dataset's next window
/// in its own seeded order (datasets smaller than their share are repeated, in a new order each
/// pass). The last `validationFraction` of each dataset's documents is held out for validation
/// (whole documents: every sequence of a held-out document). Windows are T + 1 tokens with stride
/// T over the concatenated documents (each ends with </s>), read from the mapped files when filled
/// and checked against the model's vocabulary there (a bad id is a `DataError` naming the file,
/// the token's position and the id).
public struct MixtureSource: TokenSource {
    public struct Component: Sendable {
        public let name: String
        public let prefix: String
        public let weight: Double            // share of training samples
        public let trainWindows: Int
        public let validationWindows: Int
        let trainRange: Range<Int>           // token positions in `reader`
        let validationRange: Range<Int>
        let reader: IndexedDatasetReader
        /// Training tokens (what alpha-smoothing weighs).
        public var trainRangeCount: Int { trainRange.count }
    }

    public let components: [Component]
    public let sequenceLength: Int
    public let vocabularySize: Int           // the model's: every id read must be below it
    public let sampleCount: Int
    let blend: MixtureBlend                  // the dataset of each sample of an epoch
    let orders: [SampleOrder]

    /// `datasets`: (name, prefix, explicit weight or nil). With `alpha`, weights are p_i ~ n_i^alpha
    /// of the datasets' training tokens; with neither, proportional to size. `vocabularySize`: the
    /// model's.
    public init(datasets: [(name: String, prefix: String, weight: Double?)], alpha: Double?, validationFraction: Double,
                sequenceLength T: Int, vocabularySize: Int, seed: UInt64, file: String) throws {
        guard !datasets.isEmpty, datasets.count <= 255 else {
            throw JobError.invalid(file: file, field: "data.datasets", expected: "1 to 255 datasets", found: "\(datasets.count)")
        }
        var partial: [(String, String, Double?, IndexedDatasetReader, Range<Int>, Range<Int>)] = []
        for d in datasets {
            let reader = try IndexedDatasetReader(prefix: d.prefix)
            let documents = reader.documentCount
            let held = validationFraction > 0 ? max(1, Int((Double(documents) * validationFraction).rounded())) : 0
            let split = reader.documentStart(max(0, documents - held))
            partial.append((d.name, d.prefix, d.weight, reader, 0..<split, split..<reader.tokenCount))
            guard split >= T + 1 else {
                throw DataError.tooSmall(paths: [d.prefix], tokens: split, needed: T + 1)
            }
        }
        let explicit = partial.compactMap(\.2)
        guard explicit.isEmpty || explicit.count == partial.count else {
            throw JobError.invalid(file: file, field: "data.datasets", expected: "a weight for every dataset or for none", found: "\(explicit.count) of \(partial.count)")
        }
        if !explicit.isEmpty && alpha != nil {
            throw JobError.invalid(file: file, field: "data.alpha", expected: "either data.alpha or weights per dataset, not both", found: "both")
        }
        let sizes = partial.map { Double($0.4.count) }
        var raw = explicit.isEmpty ? sizes.map { pow($0, alpha ?? 1) } : explicit
        let total = raw.reduce(0, +)
        guard total > 0, raw.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw JobError.invalid(file: file, field: "data.datasets", expected: "non-negative weights with a positive sum", found: "\(raw)")
        }
        raw = raw.map { $0 / total }
        components = zip(partial, raw).map { p, w in
            Component(name: p.0, prefix: p.1, weight: w, trainWindows: (p.4.count - 1) / T,
                      validationWindows: p.5.count > T ? (p.5.count - 1) / T : 0,
                      trainRange: p.4, validationRange: p.5, reader: p.3)
        }
        sequenceLength = T
        self.vocabularySize = vocabularySize
        sampleCount = components.reduce(0) { $0 + $1.trainWindows }
        blend = MixtureBlend(weights: components.map(\.weight), sampleCount: sampleCount)
        orders = components.enumerated().map { SampleOrder(sampleCount: $0.element.trainWindows, seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64($0.offset + 1))) }
    }

    public func fill(sample index: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) throws {
        let (d, occurrence) = blend.source(of: index)
        let window = orders[d].sample(at: occurrence)
        let c = components[d]
        try copy(c.reader, from: c.trainRange.lowerBound + window * sequenceLength, inputs, targets)
    }

    public var componentNames: [String] { components.map(\.name) }

    public func component(of index: Int) -> Int { blend.source(of: index).dataset }

    /// Validation window `window` of component `component`.
    public func fillValidation(component: Int, window: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) throws {
        let c = components[component]
        try copy(c.reader, from: c.validationRange.lowerBound + window * sequenceLength, inputs, targets)
    }

    /// The T + 1 tokens from `start`, widened: inputs [T] the first T, targets [T] the last T.
    private func copy(_ reader: IndexedDatasetReader, from start: Int, _ inputs: UnsafeMutablePointer<Int32>, _ targets: UnsafeMutablePointer<Int32>) throws {
        let T = sequenceLength
        try reader.copyTokens(from: start, count: T, vocabularySize: vocabularySize, into: inputs)
        try reader.copyTokens(from: start + T, count: 1, vocabularySize: vocabularySize, into: targets + (T - 1))
        targets.update(from: inputs + 1, count: T - 1)
    }
}

/// The context of one generation as the model sees it: its last T tokens (T = the model's sequence
/// length), with their keys and values cached. Appending a token costs one position's forward
/// pass. Once T tokens are held, appending one drops the oldest and recomputes the remaining T
/// from position 0: ALiBi counts positions from the window's start, so this is exactly what a full
/// forward over the sliding window computes, at the price of a T-token prefill per token.
public final class GenerationContext: @unchecked Sendable {
    public let model: BloomModel
    public let cache: KeyValueCache
    let scratch: IncrementalScratch
    /// The tokens the cache holds, oldest first (at most T).
    public private(set) var window: [Int32] = []

    /// `chunkRows`: positions a prefill processes at once (its scratch memory grows with it).
    /// Throws `AllocationFailed` when the cache or the scratch does not fit.
    public init(model: BloomModel, chunkRows: Int = 128) throws {
        self.model = model
        cache = try KeyValueCache(shape: model.shape)
        scratch = try IncrementalScratch(shape: model.shape, rows: chunkRows)
    }

    /// Bytes of the cache and the scratch, beyond the model's parameters.
    public var bytes: Int { cache.bytes + scratch.bytes }

    /// Starts over from `prompt` (non-empty; its last T tokens): the logits [V] of the token after it,
    /// valid until the next call.
    public func start(_ prompt: [Int32]) -> UnsafePointer<Float> {
        precondition(!prompt.isEmpty, "a generation starts from at least one token")
        window = Array(prompt.suffix(cache.capacity))
        cache.reset()
        return model.forward(appending: window, to: cache, scratch: scratch)
    }

    /// Appends `token`: the logits [V] of the token after it, valid until the next call.
    public func append(_ token: Int32) -> UnsafePointer<Float> {
        precondition(!window.isEmpty, "start(_:) comes first")
        guard cache.isFull else {
            window.append(token)
            return model.forward(appending: [token], to: cache, scratch: scratch)
        }
        window.removeFirst()
        window.append(token)
        cache.reset()
        return model.forward(appending: window, to: cache, scratch: scratch)
    }
}

/// Told by backward when a range of the flat gradient buffer is final for this step, and between
/// operations so it can drive communication (the data-parallel all-reduce hooks in here).
public protocol GradientObserver: AnyObject {
    /// Gradients at these flat offsets will not change again in this backward pass.
    func gradientsReady(_ range: Range<Int>)
    /// Called between backward's operations: a chance to progress outstanding communication.
    func progress()
    /// True if the observer takes the embedding lookup's gradient (`embeddingLookup`) instead of
    /// backward scattering it into the tied table's gradient. The table's gradient is then final
    /// right after lm_head, at the start of backward, and is reported there.
    var takesEmbeddingLookup: Bool { get }
    /// The lookup's gradient: dout [N, C], one row per token of tokens [N]; row n belongs to
    /// table row tokens[n]. Only called when `takesEmbeddingLookup`.
    func embeddingLookup(dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, rows: Int, channels: Int)
}

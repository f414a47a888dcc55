/// Told by backward when a range of the flat gradient buffer is final for this step, and between
/// blocks so it can drive communication (the data-parallel all-reduce hooks in here).
public protocol GradientObserver: AnyObject {
    /// Gradients at these flat offsets will not change again in this backward pass.
    func gradientsReady(_ range: Range<Int>)
    /// Called after each block's backward: a chance to progress outstanding communication.
    func progress()
}

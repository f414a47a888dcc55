import AtelierCore

/// The keys and values of every position a generation has processed, so that a new token attends
/// over them instead of recomputing the context. [L, 2, H, capacity, D] fp32: layer l's keys of
/// head h are one contiguous [capacity, D] block, its values the next (each one sgemm operand).
/// Positions 0..<count are filled; BLOOM's ALiBi counts key positions from 0 at the cache's start.
public final class KeyValueCache: @unchecked Sendable {
    public let layers: Int, heads: Int, headDim: Int
    public let capacity: Int   // positions: the model's sequence length T for generation
    public private(set) var count = 0
    let storage: FloatBuffer

    /// Throws `AllocationFailed` when the cache does not fit (its size comes from the model's file).
    public init(shape: ModelShape, capacity: Int? = nil) throws {
        layers = shape.layers; heads = shape.heads; headDim = shape.headDim
        self.capacity = capacity ?? shape.sequenceLength
        precondition(self.capacity > 0)
        let advice = "generation keeps keys and values for the model's whole window (seq_length); use a model with a shorter one"
        guard let floats = checkedProduct(layers, 2, heads, self.capacity, headDim) else {
            throw AllocationFailed(what: "the key/value cache", floats: nil, advice: advice)
        }
        storage = try FloatBuffer(count: floats, for: "the key/value cache", advice: advice)
    }

    public var isFull: Bool { count == capacity }
    public var bytes: Int { storage.bytes }

    /// Forgets every position (the storage is reused).
    public func reset() { count = 0 }

    /// Head h's keys at layer l [capacity, D].
    public func keys(layer l: Int, head h: Int) -> UnsafeMutablePointer<Float> {
        storage.base + ((l * 2) * heads + h) * capacity * headDim
    }

    /// Head h's values at layer l [capacity, D].
    public func values(layer l: Int, head h: Int) -> UnsafeMutablePointer<Float> {
        storage.base + ((l * 2 + 1) * heads + h) * capacity * headDim
    }

    /// Copies the keys and values of `rows` new positions (count..<count+rows) out of layer l's fused
    /// qkv [rows, 3C], laid out [H, 3, D] per row as `Attention` reads it.
    func store(layer l: Int, qkv: UnsafePointer<Float>, rows: Int) {
        precondition(count + rows <= capacity, "the cache holds \(capacity) positions")
        let D = headDim, C3 = 3 * heads * headDim
        for h in 0..<heads {
            let k = keys(layer: l, head: h) + count * D, v = values(layer: l, head: h) + count * D
            for r in 0..<rows {
                let row = qkv + r * C3 + h * 3 * D
                (k + r * D).update(from: row + D, count: D)
                (v + r * D).update(from: row + 2 * D, count: D)
            }
        }
    }

    /// Marks `rows` more positions filled, once every layer has stored them.
    func advance(by rows: Int) {
        precondition(count + rows <= capacity)
        count += rows
    }
}

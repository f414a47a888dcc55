/// Vectorised float kernels over raw buffers (16 lanes at a time), for the element-wise parts of
/// the model that do not go through BLAS.
public typealias Vec = SIMD16<Float>

@inlinable @inline(__always) public func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inlinable @inline(__always) public func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Lanes 0..<n of p (n <= 16), the others `fill`: the tail of a loop goes through the same vector
/// formula as the body, padded with the formula's neutral value (0 for a sum, -inf for a max).
@inlinable @inline(__always) public func load(_ p: UnsafePointer<Float>, count n: Int, fill: Float = 0) -> Vec {
    if n == 16 { return load(p) }
    var v = Vec(repeating: fill)
    for i in 0..<n { v[i] = p[i] }
    return v
}

/// Writes lanes 0..<n of v to p (n <= 16).
@inlinable @inline(__always) public func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>, count n: Int) {
    if n == 16 { store(v, p); return }
    for i in 0..<n { p[i] = v[i] }
}

/// Calls body(i, lanes) for i = 0, 16, 32, ... below n, with lanes = min(16, n - i): the whole
/// vectors and the tail go through one body, so each formula is written once (with
/// `load(_:count:)` and `store(_:_:count:)`).
///
/// Pass a nested `@_transparent func` as the body, not a closure literal: the body is called at
/// two sites (whole vectors, where lanes is the constant 16, and the tail), and a closure literal
/// is then compiled once, out of line, with the tail's lane-by-lane loads mixed into every
/// vector; GeLU's forward took 2.8x as long that way. `@inline(__always)` is a hint the optimizer
/// refused for GeLU's larger backward body; `@_transparent` is inlined always (docs/benchmarks.md).
@inlinable @inline(__always) public func forEachVector(_ n: Int, _ body: (_ i: Int, _ lanes: Int) -> Void) {
    var i = 0
    while i + 16 <= n { body(i, 16); i += 16 }   // whole vectors: lanes is a constant here
    if i < n { body(i, n - i) }
}

/// Lane-wise max of two vectors through compare-and-select, which compiles to vector
/// instructions (the standard pointwiseMax handles NaN lane by lane in scalar code). Against a
/// constant, compare with the scalar instead (see `vexp`).
@inline(__always) func vmax(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: a .< b) }

/// The max and the sum of a vector's 16 lanes by halving (8, 4, 2, 1): vector instructions, where
/// the standard `max()` goes lane by lane with a compare and a branch each (most of an attention
/// row kernel's time at 64 keys) and `sum()` adds the lanes one after another.
@inline(__always) func laneMax(_ v: Vec) -> Float {
    let a = v.lowHalf.replacing(with: v.highHalf, where: v.lowHalf .< v.highHalf)
    let b = a.lowHalf.replacing(with: a.highHalf, where: a.lowHalf .< a.highHalf)
    let c = b.lowHalf.replacing(with: b.highHalf, where: b.lowHalf .< b.highHalf)
    return max(c[0], c[1])
}

@inline(__always) func laneSum(_ v: Vec) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// exp(x) for 16 lanes: Cephes' range reduction and degree-6 polynomial, about 1 ulp.
/// Inputs are clamped to [-87.3, 88.7], the range where the result is a normal float, except that
/// inputs below -87.3 give 0: exp(-inf) = 0 for masked keys and for the padding of a tail.
@_transparent func vexp(_ input: Vec) -> Vec {
    // Clamped by comparing with scalars: compared with a splatted constant vector (vmax/vmin),
    // the mask was built lane by lane through the stack (a 16-step loop of scalar compares per
    // vector; GeLU alone 12x slower in isolation). NaN stays NaN.
    let low = input.replacing(with: -87.3, where: input .< -87.3)
    let x = low.replacing(with: 88.7, where: low .> 88.7)
    // Round x*log2(e) to an integer n with the 1.5*2^23 trick: the sum's low mantissa bits hold n,
    // so n and 2^n stay in vector registers (no per-lane float->int conversion).
    let shifted = x * 1.442_695_04 + 12_582_912.0
    let n = shifted - 12_582_912.0
    var r = x - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    var p = Vec(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_1e-1
    p = p * r * r + r + 1
    let bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000   // n
    let e = p * unsafeBitCast((bits &+ 127) &<< 23, to: Vec.self)
    return e.replacing(with: 0, where: input .< -87.3)
}

/// tanh(x) = 1 - 2 / (exp(2x) + 1) for 16 lanes.
@_transparent func vtanh(_ x: Vec) -> Vec {
    1 - 2 / (vexp(2 * x) + 1)
}

/// Sum of n floats.
@inline(__always) func vsum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec()
    @_transparent func at(_ i: Int, _ lanes: Int) { acc += load(p + i, count: lanes) }
    forEachVector(n, at)
    return acc.sum()
}

/// Maximum of n > 0 floats.
@inline(__always) func vmax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec(repeating: -.infinity)
    @_transparent func at(_ i: Int, _ lanes: Int) { acc = vmax(acc, load(p + i, count: lanes, fill: -.infinity)) }
    forEachVector(n, at)
    return acc.max()
}

/// y[i] += x[i] for n floats, on the calling thread (one row of a bias or an embedding).
@inline(__always) public func vadd(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    @_transparent func at(_ i: Int, _ lanes: Int) { store(load(y + i, count: lanes) + load(x + i, count: lanes), y + i, count: lanes) }
    forEachVector(n, at)
}

/// Sum of squares of n floats in double: each block of 4096 floats is summed in float lanes, the
/// blocks in double in index order. Blocks are split over the threads but their sums are added
/// in the same order on any thread count, so the result is bit-identical across thread counts.
public func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    let block = 4096
    let blocks = (n + block - 1) / block
    let sums = UnsafeMutablePointer<Double>.allocate(capacity: blocks)   // [blocks]
    defer { sums.deallocate() }
    Parallel.forEachRange(blocks, grain: Parallel.rowGrain(floatsPerRow: block)) { range in
        for b in range {
            let start = b * block
            sums[b] = blockSumOfSquares(p + start, min(block, n - start))
        }
    }
    var total = 0.0
    for b in 0..<blocks { total += sums[b] }
    return total
}

/// Sum of squares of n floats (one block of `sumOfSquares`), in float lanes, returned in double.
@inline(__always) func blockSumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = Vec()
    @_transparent func at(_ i: Int, _ lanes: Int) { let v = load(p + i, count: lanes); acc += v * v }
    forEachVector(n, at)
    return Double(acc.sum())
}

/// HDF5's Fletcher32 checksum (H5_checksum_fletcher32), bit for bit: sums over big-endian 16-bit
/// words in UInt32 arithmetic, both folded (low half + high half) after every block of 360 words,
/// twice more at the end; an odd trailing byte counts as the high byte of a last word.
///
/// Full blocks are summed eight words at a time. Within a block of n = 360 words w_i starting from
/// (s1, s2), the scalar loop ends at s1 + Σ w_i and s2 + n·s1 + Σ (n - i)·w_i. With the block as 45
/// vectors v_k of 8 lanes (i = 8k + j), n - i = 8(45 - k) - j, so the weighted sum is
/// 8·Σ_k (45 - k)·v_k - Σ_j j·(Σ_k v_k): a running sum A += v_k and B += A give both without a
/// multiply. All of it is wrapping UInt32 arithmetic, exactly what the scalar loop's wrapping adds
/// give, so the folds see the same values.
public func fletcher32(_ data: UnsafeRawPointer, _ count: Int) -> UInt32 {
    var sum1: UInt32 = 0, sum2: UInt32 = 0
    let fullBlocks = count / 720
    let lane = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7)
    for block in 0..<fullBlocks {
        let base = data + block * 720
        var a = SIMD8<UInt32>(), b = SIMD8<UInt32>()
        for k in 0..<45 {
            let raw = base.loadUnaligned(fromByteOffset: k * 16, as: SIMD8<UInt16>.self)
            a &+= SIMD8<UInt32>(truncatingIfNeeded: raw &<< 8 | raw &>> 8)   // big-endian words
            b &+= a
        }
        sum2 &+= 360 &* sum1 &+ 8 &* b.wrappedSum() &- (a &* lane).wrappedSum()
        sum1 &+= a.wrappedSum()
        sum1 = fold(sum1)
        sum2 = fold(sum2)
    }
    let bytes = data.assumingMemoryBound(to: UInt8.self)
    var p = fullBlocks * 720
    let rest = (count - p) / 2
    if rest > 0 {
        for _ in 0..<rest {
            sum1 &+= UInt32(bytes[p]) << 8 | UInt32(bytes[p + 1])
            sum2 &+= sum1
            p += 2
        }
        sum1 = fold(sum1)
        sum2 = fold(sum2)
    }
    if count % 2 == 1 {
        sum1 &+= UInt32(bytes[p]) << 8
        sum2 &+= sum1
        sum1 = fold(sum1)
        sum2 = fold(sum2)
    }
    return fold(sum2) << 16 | fold(sum1)
}

@inline(__always) private func fold(_ x: UInt32) -> UInt32 { (x & 0xffff) &+ (x >> 16) }

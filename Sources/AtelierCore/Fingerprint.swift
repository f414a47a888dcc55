/// The one 64-bit hash atelier uses to check that ranks agree: on the job (its canonical text),
/// the weights (the parameter bytes) and the executable. FNV-1a over 8-byte words, each product
/// folded with a shift so that high bits reach the low ones, then the last bytes one at a time:
/// word-wise so that gigabytes of weights hash at memory speed. Not cryptographic.
public func fingerprint64(_ raw: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    let prime: UInt64 = 0x0000_0100_0000_01b3
    let words = raw.count / 8
    for i in 0..<words {
        h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* prime
        h ^= h >> 31
    }
    for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* prime }
    return h
}

public func fingerprint64(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBytes { fingerprint64($0) }
}

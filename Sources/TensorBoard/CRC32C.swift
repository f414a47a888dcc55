/// CRC-32C (Castagnoli; reflected polynomial 0x82F63B78), the checksum of TFRecord files, and the
/// masked form they store. Table-driven, a byte at a time: an event is a few hundred bytes, written
/// once per log interval.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// What TFRecord stores: the CRC rotated right by 15 bits plus a constant, because a CRC of
    /// bytes that themselves hold CRCs is weak (TensorFlow's crc32c::Mask).
    public static func masked<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

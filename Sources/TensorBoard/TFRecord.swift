/// TensorFlow's record framing, which events files use: for each record
///
///     [payload length: UInt64 LE][masked CRC32C of those 8 bytes: UInt32 LE][payload][masked CRC32C of the payload: UInt32 LE]
///
/// 16 bytes of framing per record. A reader stops at the first record that is cut short (a writer
/// killed mid-write) or fails its checksum, and so does `records(in:)`.
public enum TFRecord {
    public static func framed(_ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 16)
        let length = withUnsafeBytes(of: UInt64(payload.count).littleEndian) { Array($0) }
        out += length
        withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { out += $0 }
        out += payload
        withUnsafeBytes(of: CRC32C.masked(payload).littleEndian) { out += $0 }
        return out
    }

    /// Where reading stopped before the end of the bytes, and why.
    public struct Damage: Equatable, Sendable, CustomStringConvertible {
        public let offset: Int          // bytes; the records before it are whole
        public let reason: String
        public var description: String { "at byte \(offset): \(reason)" }

        public init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }
    }

    /// The payloads of the whole, intact records from the start of `bytes`, and the damage that
    /// stopped reading early (nil when every byte belongs to a whole record).
    public static func records(in bytes: [UInt8]) -> (payloads: [ArraySlice<UInt8>], damage: Damage?) {
        var payloads: [ArraySlice<UInt8>] = []
        var p = 0
        while p < bytes.count {
            let remaining = bytes.count - p
            guard remaining >= 12 else { return (payloads, Damage(offset: p, reason: "a record header cut short (\(remaining) of 12 bytes)")) }
            let header = bytes[p..<p + 8]
            guard CRC32C.masked(header) == little32(bytes, p + 8) else {
                return (payloads, Damage(offset: p, reason: "the length's checksum does not match"))
            }
            let length = header.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard length <= UInt64(remaining - 12), Int(length) + 4 <= remaining - 12 else {
                return (payloads, Damage(offset: p, reason: "a record of \(length) bytes cut short (\(remaining - 12) remain)"))
            }
            let payload = bytes[p + 12..<p + 12 + Int(length)]
            guard CRC32C.masked(payload) == little32(bytes, payload.endIndex) else {
                return (payloads, Damage(offset: p, reason: "the record's checksum does not match"))
            }
            payloads.append(payload)
            p = payload.endIndex + 4
        }
        return (payloads, nil)
    }

    private static func little32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
    }
}

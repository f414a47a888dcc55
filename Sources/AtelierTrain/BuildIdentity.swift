import Foundation

/// Identifies the running build of atelier by hashing its own executable, so ranks can check that
/// they all run the same program.
public enum BuildIdentity {
    public static let version = "0.1.0"

    public static func fingerprint() -> UInt64 {
        guard let data = FileManager.default.contents(atPath: "/proc/self/exe") else { return 0 }
        return data.withUnsafeBytes { raw -> UInt64 in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            let words = raw.count / 8
            for i in 0..<words {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x0000_0100_0000_01b3
                h ^= h >> 31
            }
            for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x0000_0100_0000_01b3 }
            return h
        }
    }
}

import AtelierCore
import AtelierJob
import Foundation

/// Identifies the running build of atelier by hashing its own executable, so ranks can check that
/// they all run the same program.
public enum BuildIdentity {
    public static let version = "0.1.0"

    public static func fingerprint() -> UInt64 {
        guard let data = FileManager.default.contents(atPath: "/proc/self/exe") else { return 0 }
        return data.withUnsafeBytes { fingerprint64($0) }
    }
}

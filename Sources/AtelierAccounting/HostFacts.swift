import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What this machine tells about itself: CPU model, online cores, RAM.
public struct HostFacts: Sendable {
    public var cpuModel: String?
    public var cores: Int
    public var ramGB: Double?

    public init(cpuModel: String?, cores: Int, ramGB: Double?) {
        self.cpuModel = cpuModel
        self.cores = cores
        self.ramGB = ramGB
    }

    public static let current = HostFacts(
        cpuModel: field("model name", in: "/proc/cpuinfo"),
        cores: max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))),
        ramGB: field("MemTotal", in: "/proc/meminfo").flatMap { Double($0.split(separator: " ").first ?? "") }.map { $0 / 1_048_576 })

    /// The value after "name :" on the first line that starts with `name`.
    static func field(_ name: String, in path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { return value }
        }
        return nil
    }
}

import Foundation

/// Memory this node can still give a job: MemAvailable from /proc/meminfo, lowered to the room left
/// under the process's cgroup limit when there is one (cgroup v2 memory.max - memory.current, or
/// v1 memory.limit_in_bytes - memory.usage_in_bytes). Shared among the ranks on the node.
public struct NodeMemory: Equatable, Sendable {
    public let availableBytes: Int
    /// Where the figure comes from, for messages: "MemAvailable" or "the cgroup limit (PATH)".
    public let source: String

    public init(availableBytes: Int, source: String) {
        self.availableBytes = availableBytes
        self.source = source
    }

    /// This node's figure; nil when /proc/meminfo cannot be read (not Linux).
    public static func current() -> NodeMemory? {
        read(meminfo: "/proc/meminfo", cgroupOfProcess: "/proc/self/cgroup", cgroupRoot: "/sys/fs/cgroup")
    }

    /// The same from other files (tests give fakes).
    public static func read(meminfo: String, cgroupOfProcess: String, cgroupRoot: String) -> NodeMemory? {
        guard let text = try? String(contentsOfFile: meminfo, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let available = NodeMemory(availableBytes: kib * 1024, source: "MemAvailable in \(meminfo)")
        guard let room = cgroupRoom(cgroupOfProcess: cgroupOfProcess, root: cgroupRoot), room.availableBytes < available.availableBytes else {
            return available
        }
        return room
    }

    /// Room under the cgroup's memory limit, or nil when there is no limit (or no cgroup files).
    static func cgroupRoom(cgroupOfProcess: String, root: String) -> NodeMemory? {
        guard let text = try? String(contentsOfFile: cgroupOfProcess, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            let candidates: [(directory: String, limit: String, usage: String)]
            if parts[0] == "0" && parts[1].isEmpty {                                    // v2: 0::/path
                candidates = [(root + parts[2], "memory.max", "memory.current"), (root, "memory.max", "memory.current")]
            } else if parts[1].split(separator: ",").contains("memory") {               // v1: N:memory:/path
                candidates = [(root + "/memory" + parts[2], "memory.limit_in_bytes", "memory.usage_in_bytes"),
                              (root + "/memory", "memory.limit_in_bytes", "memory.usage_in_bytes")]
            } else { continue }
            for c in candidates {
                guard let limit = number(c.directory + "/" + c.limit) else { continue }
                // "max" (v2) or a near-2^63 figure (v1) means no limit.
                guard limit < 1 << 60 else { return nil }
                let usage = number(c.directory + "/" + c.usage) ?? 0
                return NodeMemory(availableBytes: max(0, limit - usage), source: "the cgroup limit (\(c.directory)/\(c.limit) minus \(c.usage))")
            }
        }
        return nil
    }

    private static func number(_ path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return value == "max" ? Int.max : Int(value)
    }
}

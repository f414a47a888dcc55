import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Measures one node for the job: CPU time of the job's processes on it (from /proc) and, when
/// readable, the CPU packages' energy counters (RAPL under /sys/class/powercap). Runs on the
/// node's local rank 0 only, so N ranks on a node are counted once. A sampling thread reads RAPL
/// every `sampleSeconds` so that counter wrap-arounds are not missed.
public final class NodeAccountant: @unchecked Sendable {
    public struct Reading: Sendable, Equatable {
        public var seconds: Double
        public var cpuSeconds: Double
        public var cpuJoules: Double?
    }

    private let pids: [Int32]
    private let rapl: RAPLCounters?
    private let lock = NSLock()
    private var lastTime: UInt64
    private var lastCPU: Double
    private var joules = 0.0
    private var timer: DispatchSourceTimer?

    public init(pids: [Int32], powercapRoot: String = "/sys/class/powercap", sampleSeconds: Double = 15) {
        self.pids = pids
        rapl = RAPLCounters(root: powercapRoot)
        lastTime = DispatchTime.now().uptimeNanoseconds
        lastCPU = 0
        lastCPU = cpuSeconds()
        if rapl != nil {
            let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "atelier.accountant"))
            timer.schedule(deadline: .now() + sampleSeconds, repeating: sampleSeconds)
            timer.setEventHandler { [weak self] in self?.sample() }
            timer.resume()
            self.timer = timer
        }
    }

    deinit { timer?.cancel() }

    /// Whether CPU energy is measured (RAPL) rather than modelled from utilisation.
    public var measuresEnergy: Bool { rapl != nil }

    /// The timer's read. The counters' last values are RAPL state that `take` reads too: both
    /// go through the lock.
    private func sample() {
        lock.lock(); defer { lock.unlock() }
        sampleLocked()
    }

    private func sampleLocked() {
        if let rapl { joules += rapl.joulesSinceLastRead() }
    }

    /// What the node did since the previous call (or since start).
    public func take() -> Reading {
        lock.lock(); defer { lock.unlock() }
        sampleLocked()
        let now = DispatchTime.now().uptimeNanoseconds
        let cpu = cpuSeconds()
        let reading = Reading(seconds: Double(now - lastTime) / 1e9, cpuSeconds: max(0, cpu - lastCPU),
                              cpuJoules: rapl == nil ? nil : joules)
        lastTime = now
        lastCPU = cpu
        joules = 0
        return reading
    }

    /// User + system CPU time of the job's processes on this node; a process that has gone keeps
    /// its last known time.
    private var known: [Int32: Double] = [:]
    private func cpuSeconds() -> Double {
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        for pid in pids {
            if let t = Self.processCPUTicks(pid) { known[pid] = t / tick }
        }
        return known.values.reduce(0, +)
    }

    /// utime + stime of a process, in clock ticks, from /proc/PID/stat.
    static func processCPUTicks(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return user + system
    }
}

/// The RAPL package counters under a powercap directory ("intel-rapl:N", which AMD CPUs also
/// use), with their wrap-around ranges.
final class RAPLCounters: @unchecked Sendable {
    private struct Domain { let energy: String; let range: Double; var last: Double }
    private var domains: [Domain]

    /// nil when no package counter is readable (not exposed, or not permitted).
    init?(root: String) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { $0.hasPrefix("intel-rapl:") && $0.split(separator: ":").count == 2 }.sorted()
        domains = names.compactMap { name in
            let energy = "\(root)/\(name)/energy_uj"
            guard let value = Self.read(energy), let range = Self.read("\(root)/\(name)/max_energy_range_uj"), range > 0 else { return nil }
            return Domain(energy: energy, range: range, last: value)
        }
        if domains.isEmpty { return nil }
    }

    /// Joules used by all packages since the previous read, across counter wrap-arounds.
    func joulesSinceLastRead() -> Double {
        var total = 0.0
        for i in domains.indices {
            guard let now = Self.read(domains[i].energy) else { continue }
            let delta = now >= domains[i].last ? now - domains[i].last : now + domains[i].range - domains[i].last
            domains[i].last = now
            total += delta / 1e6
        }
        return total
    }

    static func read(_ path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

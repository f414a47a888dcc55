import Foundation
import XCTest

/// Runs the built `atelier` (alone or under mpirun) and captures what it prints.
struct AtelierProcess {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// The atelier executable built next to this test bundle.
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("atelier").path
    }

    static var isReleaseBuild: Bool { !executable.contains("/debug/") }

    /// mpirun's flags for tests: as root it needs --allow-run-as-root; more ranks than cores need
    /// --oversubscribe.
    static var mpirunFlags: [String] {
        (getuid() == 0 ? ["--allow-run-as-root"] : []) + ["--oversubscribe"]
    }

    static func run(_ arguments: [String], ranks: Int? = nil, cwd: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        if let ranks {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["mpirun"] + mpirunFlags + ["-np", String(ranks), executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        return try launch(process, cwd: cwd, environment: environment)
    }

    /// mpirun with one app context per entry: `[[args of rank 0], [args of rank 1], ...]`.
    static func runMPMD(_ contexts: [[String]]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var args = ["mpirun"] + mpirunFlags
        for (i, context) in contexts.enumerated() {
            if i > 0 { args.append(":") }
            args += ["-np", "1", executable] + context
        }
        process.arguments = args
        return try launch(process, cwd: nil)
    }

    /// Runs a command that may leave daemons behind: its output goes through a file, not pipes
    /// (a daemon holding a pipe open would keep the reader waiting for the end of it).
    static func commandLeavingDaemons(_ arguments: [String]) throws -> AtelierProcess.Result {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-daemon-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = AtelierProcess.cleanEnvironment
        let handle = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return AtelierProcess.Result(status: process.terminationStatus, stdout: output, stderr: output)
    }

    /// Any command (through /usr/bin/env), its output captured.
    static func command(_ arguments: [String], cwd: URL? = nil) throws -> AtelierProcess.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        return try launch(process, cwd: cwd)
    }

    /// This environment without the variables an MPI job sets in its processes: the test process may
    /// itself have initialised MPI (other test targets run in it), and children that inherit
    /// OMPI_*/PMIX_* would take themselves for part of that job.
    static var cleanEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "ORTE_", "OPAL_", "PMI_"].contains { key.hasPrefix($0) }
        }
    }

    static func launch(_ process: Process, cwd: URL?, environment: [String: String] = [:]) throws -> Result {
        if let cwd { process.currentDirectoryURL = cwd }
        process.environment = cleanEnvironment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the process runs, so a full pipe never blocks it.
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let outData = outBox.data
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A fresh temporary directory, removed by the caller's defer.
func temporaryDirectory(_ name: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// metrics.jsonl's iteration and validation records as dictionaries; its accounting records
/// (cumulative kWh and kgCO2eq when an interval closes) only with `accounting`.
func readMetrics(_ url: URL, accounting: Bool = false) throws -> [[String: Any]] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }.filter { accounting || $0["accounting"] == nil }
}

/// ~40 KB of structured text for byte-level training, as dir/corpus.txt.
func writeCorpus(in dir: URL) throws {
    var text = ""
    for i in 0..<800 { text += "Line \(i): the quick brown fox \(i % 7) jumps over the lazy dog \(i % 11).\n" }
    try text.write(to: dir.appendingPathComponent("corpus.txt"), atomically: true, encoding: .utf8)
}

/// A cluster profile for tests, as dir/cluster.toml: a 2-core CPU node with round figures and a
/// "tests" working group with `budget` device-hours (none when nil).
func writeTestProfile(in dir: URL, budget: Double? = nil) throws -> String {
    let profile = """
    site = "testsite"
    [grid]
    carbon_intensity = 100
    pue = 1.5
    [node]
    device = "cpu"
    cpu_model = "test cpu"
    cores = 2
    cpu_tdp_w = 20
    ram_gb = 16
    idle_w = 4
    device_peak_tflops = 0.1
    [embodied]
    device_kg = 1
    server_kg = 100
    lifetime_years = 5
    utilisation = 0.5
    [working_groups.tests]
    \(budget.map { "budget_device_hours = \($0)" } ?? "")
    [working_groups.other]
    """
    let path = dir.appendingPathComponent("cluster.toml").path
    try profile.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A tiny byte-level job in `dir` (run directory dir/runs/NAME); `extra` lines go under [train],
/// `accounting` lines under [accounting] (whose profile is dir/cluster.toml, written if missing).
func writeTinyJob(in dir: URL, name: String, micro: Int, runName: String? = nil, extra: String = "",
                  accounting: String = "", workingGroup: String = "tests") throws -> String {
    let profile = dir.appendingPathComponent("cluster.toml").path
    if !FileManager.default.fileExists(atPath: profile) { _ = try writeTestProfile(in: dir) }
    let job = """
    name = "\(name)"
    working_group = "\(workingGroup)"
    seed = 11
    run_dir = "\(dir.appendingPathComponent("runs/\(runName ?? name)").path)"
    [model]
    vocab_size = 260
    hidden_size = 32
    layers = 2
    heads = 4
    seq_length = 32
    [data]
    paths = ["\(dir.appendingPathComponent("corpus.txt").path)"]
    [batch]
    micro_batch_size = \(micro)
    global_batch_size = 8
    [optimizer]
    lr = 3e-3
    [schedule]
    warmup_samples = 16
    decay_samples = 160
    [train]
    iterations = 20
    log_interval = 1
    \(extra)
    [accounting]
    cluster_profile = "\(profile)"
    \(accounting)
    """
    let path = dir.appendingPathComponent("\(name).toml").path
    try job.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

import Foundation

/// Runs `python` with `arguments` (the benchmarks' comparisons with Hugging Face's libraries), its
/// environment this process's with `environment` set over it, and returns what it printed on
/// stdout; its stderr passes through. A failed exit is an error naming the command.
func runPython(_ python: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, set in set }
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CLIError("\(python) \(arguments.first ?? ""): exited with status \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
}

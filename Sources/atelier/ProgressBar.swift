import Foundation

/// A one-line progress bar on stderr (`[####....] 42% of ...`), redrawn in place; silent when
/// not enabled (not a terminal, or not rank 0).
struct ProgressBar {
    let total: Int
    let what: String
    let enabled: Bool

    func show(_ done: Int) {
        guard enabled else { return }
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let bar = String(repeating: "#", count: Int(fraction * 40)).padding(toLength: 40, withPad: ".", startingAt: 0)
        FileHandle.standardError.write(Data("\r[\(bar)] \(Int(fraction * 100))% \(what)".utf8))
    }

    func end() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

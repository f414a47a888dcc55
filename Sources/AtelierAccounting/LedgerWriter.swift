import Foundation

/// Writes ledger operations in order on a background thread, so that training never waits for
/// the database. What cannot be written (ledger unreachable, locked, on a full disk) is kept in
/// memory and retried with each new operation; a warning is printed once per outage. At the end
/// of the run, what is still unwritten goes to a spill file (JSON lines) in the run directory,
/// which the next launch of the job replays first.
public final class LedgerWriter: @unchecked Sendable {
    public let ledgerPath: String
    public let spillPath: String
    private let warn: @Sendable (String) -> Void
    private let queue = DispatchQueue(label: "atelier.ledger-writer")
    private var ledger: Ledger?
    private var pending: [LedgerOperation] = []
    private var failing = false
    private let busyTimeout: TimeInterval

    /// `busyTimeout`: how long one write waits for a ledger another process has locked before the
    /// records are buffered and retried later.
    public init(ledgerPath: String, spillPath: String, busyTimeout: TimeInterval = 30, warn: @escaping @Sendable (String) -> Void) {
        self.busyTimeout = busyTimeout
        self.ledgerPath = ledgerPath
        self.spillPath = spillPath
        self.warn = warn
        queue.sync { pending = Self.readSpill(spillPath, warn: warn) }
    }

    /// Queues an operation and tries to write everything pending.
    public func submit(_ op: LedgerOperation) {
        queue.async { [self] in
            pending.append(op)
            drain()
        }
    }

    /// Waits until everything submitted so far was tried once more; the number still unwritten.
    @discardableResult
    public func flush() -> Int {
        queue.sync { drain(); return pending.count }
    }

    /// Last try, then spills what is left to `spillPath` (written atomically) and says so.
    public func close() {
        queue.sync {
            drain()
            if pending.isEmpty {
                unlink(spillPath)
                return
            }
            var lines: [String] = []
            for op in pending {
                do { lines.append(String(decoding: try JSONEncoder().encode(op), as: UTF8.self)) } catch {
                    warn("a ledger record cannot be kept in \(spillPath) and is lost: \(error) (\(op))")
                }
            }
            do {
                try (lines.joined(separator: "\n") + "\n").write(toFile: spillPath, atomically: true, encoding: .utf8)
                warn("\(pending.count) ledger record(s) could not be written to \(ledgerPath); kept in \(spillPath), written by the next launch of this job")
            } catch {
                warn("\(pending.count) ledger record(s) could not be written to \(ledgerPath) nor kept in \(spillPath): \(error)")
            }
        }
    }

    private func drain() {
        guard !pending.isEmpty else { return }
        do {
            if ledger == nil { ledger = try Ledger(path: ledgerPath, busyTimeout: busyTimeout) }
            while let op = pending.first {
                try ledger!.apply(op)
                pending.removeFirst()
            }
            if failing {
                failing = false
                warn("ledger \(ledgerPath) is writable again; the buffered records are written")
            }
        } catch {
            ledger = nil
            if !failing {
                failing = true
                warn("\(error); training goes on, \(pending.count) record(s) buffered and retried")
            }
        }
    }

    /// Where spill lines that do not decode are moved, so that replaying the rest loses nothing.
    public static func unreadablePath(_ spillPath: String) -> String { spillPath + ".unreadable" }

    /// The spilled operations. A line that does not decode (a torn write, a hand edit, a record of
    /// another version) is named with its line number, moved to `unreadablePath` and left out.
    static func readSpill(_ path: String, warn: (String) -> Void) -> [LedgerOperation] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var ops: [LedgerOperation] = [], unreadable: [String] = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.isEmpty {
            do { ops.append(try JSONDecoder().decode(LedgerOperation.self, from: Data(line.utf8))) } catch {
                warn("\(path):\(number + 1): not a ledger record (\(error)); moved to \(unreadablePath(path)), not replayed: \(line.prefix(120))")
                unreadable.append(String(line))
            }
        }
        if !unreadable.isEmpty {
            let target = unreadablePath(path)
            let previous = (try? String(contentsOfFile: target, encoding: .utf8)) ?? ""
            do { try (previous + unreadable.joined(separator: "\n") + "\n").write(toFile: target, atomically: true, encoding: .utf8) } catch {
                warn("cannot keep the \(unreadable.count) unreadable line(s) in \(target): \(error); they are lost once \(path) is replayed")
            }
        }
        return ops
    }
}

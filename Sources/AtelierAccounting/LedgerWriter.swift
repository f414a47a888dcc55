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
        queue.sync { pending = Self.readSpill(spillPath) }
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
            let lines = pending.compactMap { try? String(data: JSONEncoder().encode($0), encoding: .utf8) }
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

    static func readSpill(_ path: String) -> [LedgerOperation] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(LedgerOperation.self, from: Data($0.utf8)) }
    }
}

import ArgumentParser
import AtelierAccounting
import Foundation

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Work on accounting ledgers (SQLite files and PostgreSQL databases).",
        subcommands: [LedgerCopyCommand.self])
}

struct LedgerCopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy ledgers into one: SQLite into PostgreSQL, or node-local SQLite ledgers merged.",
        discussion: """
        atelier ledger copy SRC... DST copies every job, interval, event and validation of each SRC
        into DST (created if need be), each source in one transaction. Rows are matched by their keys,
        so copying again changes nothing; a job found in several sources is merged (its first start,
        its latest launch's record). Each is a path (SQLite) or postgresql://user@host:port/db, with
        the password in PGPASSWORD or ~/.pgpass. See docs/accounting.md.
        """)

    @Argument(help: "The source ledgers, then the destination.") var ledgers: [String] = []

    func run() throws {
        do {
            guard ledgers.count >= 2, let destinationPath = ledgers.last else {
                throw CLIError("ledger copy needs at least one source and a destination: atelier ledger copy SRC... DST")
            }
            let sources = ledgers.dropLast()
            // every source is opened (and so checked) before the destination gains anything; the
            // sources are only read, not even migrated
            let opened = try sources.map { try Ledger(path: $0, readingOnly: true) }
            let destination = try Ledger(path: destinationPath)
            for source in opened {
                guard source.location != destination.location else {
                    throw CLIError("ledger copy: \(source.path) is both a source and the destination")
                }
                let counts = try destination.copy(from: source)
                print("copied \(source.path) into \(destination.path): \(counts)")
            }
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
    }
}

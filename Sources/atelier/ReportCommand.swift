import ArgumentParser
import AtelierAccounting
import AtelierReport
import AtelierTrain
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compute and carbon per working group and per job, from the site's ledger.",
        discussion: """
        Per working group and per job: status, device-hours, model PFLOPs, mean MFU, kWh,
        kgCO2eq operational, embodied and total, work lost to restarts, and budget used (budgets come
        from the cluster profile). Output: a terminal table (default), --csv, --json, or --html FILE
        (one self-contained page with charts). --slurm-job ID keeps the launches of one Slurm job,
        to compare with sacct. See docs/accounting.md.

        With --lineage PATH (a run directory, a checkpoint or an exported model directory): the
        model's lineage instead, as a tree of the models it started from with each one's
        footprint, the model's own cost and the cumulative cost (text, or --json; with --html FILE,
        a lineage section on the ledger's page). Unknown figures print as "unknown", never 0.
        """)

    @Option(help: "The ledger (the jobs' accounting.ledger): an SQLite file or postgresql://user@host:port/db (password in PGPASSWORD or ~/.pgpass).")
    var ledger = "runs/ledger.sqlite"
    @Option(help: "The cluster profile whose working-group budgets to show.") var profile = "cluster/local.toml"
    @Option(help: "Only this working group.") var group: String?
    @Option(help: "Only jobs with this name.") var job: String?
    @Option(help: "Only intervals that ended at or after this time (YYYY-MM-DD or ISO 8601).") var since: String?
    @Option(help: "Only intervals that ended at or before this time (YYYY-MM-DD or ISO 8601).") var until: String?
    @Option(help: "Only the launches that ran in this Slurm job (its SLURM_JOB_ID, as sacct shows it).") var slurmJob: String?
    @Flag(help: "CSV instead of a table.") var csv = false
    @Flag(help: "JSON instead of a table.") var json = false
    @Option(help: "Write a self-contained HTML page with charts to this file.") var html: String?
    @Option(help: "A model's lineage: a run directory, a checkpoint or an exported model directory.") var lineage: String?

    func run() throws {
        do {
            let lineageReport = try lineage.map { LineageReport(path: $0, model: try CheckpointLineage.of(model: $0)) }
            if let lineageReport, html == nil {
                print(json ? lineageReport.json : lineageReport.text, terminator: "")
                return
            }
            if case .sqlite = try LedgerLocation(ledger), !FileManager.default.fileExists(atPath: ledger) {
                throw CLIError("ledger \(ledger): no such file; jobs create it as they train (pass --ledger for another)")
            }
            let filter = ReportFilter(group: group, job: job, since: try since.map { try Self.date($0, "--since") },
                                      until: try until.map { try Self.date($0, "--until", endOfDay: true) }, slurmJob: slurmJob)
            var budgets: [String: Double?] = [:]
            if FileManager.default.fileExists(atPath: profile) {
                budgets = try ClusterProfile.load(path: profile).workingGroups
            }
            var report = try Report.build(ledger: try Ledger(path: ledger), filter: filter, budgets: budgets)
            report.lineage = lineageReport
            if let html {
                try report.html.write(toFile: html, atomically: true, encoding: .utf8)
                print("wrote \(html)")
            } else if json {
                print(report.json, terminator: "")
            } else if csv {
                print(report.csv, terminator: "")
            } else {
                print(report.table, terminator: "")
            }
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
    }

    static func date(_ text: String, _ flag: String, endOfDay: Bool = false) throws -> Date {
        let iso = ISO8601DateFormatter()
        if let d = iso.date(from: text) { return d }
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = TimeZone(identifier: "UTC")
        if let d = day.date(from: text) { return endOfDay ? d.addingTimeInterval(86_399.999) : d }
        throw CLIError("\(flag) \(text): expected a date (YYYY-MM-DD) or an ISO 8601 time (2026-11-22T10:00:00Z)")
    }
}

/// A command-line error, printed as is.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

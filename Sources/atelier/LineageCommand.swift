import ArgumentParser
import AtelierAccounting
import Foundation

struct LineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "Record what a model from elsewhere cost, for the models trained from it.",
        subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a published footprint for a model directory (a model from elsewhere).",
            discussion: """
            Writes MODEL_DIR/atelier-lineage.json (atomically) with the figures given and their
            source, e.g. for BLOOM-560m's own training, so that a job whose model.init_from is that
            directory counts it among its ancestors and `atelier report --lineage` says where the
            figure came from. Figures not given stay unknown (never 0). Run it before training from
            the directory: a run that started earlier keeps the ancestor it saw. Refuses a directory
            whose lineage atelier measured (an export of an atelier checkpoint). See docs/accounting.md.
            """)

        @Argument(help: "The model directory (a Hugging Face BLOOM export).") var model: String
        @Option(help: "Operational emissions, kgCO2eq.") var kgco2eq: Double
        @Option(help: "Embodied emissions, kgCO2eq (unknown if not given).") var embodiedKgco2eq: Double?
        @Option(help: "Facility energy, kWh.") var kwh: Double?
        @Option(help: "Device-hours (GPU-hours, or core-hours).") var deviceHours: Double?
        @Option(help: "Tokens trained.") var tokens: Int?
        @Option(help: "Where the figures come from: a paper, a model card, a URL.") var source: String
        @Option(help: "The model's name (default: the directory's name).") var name: String?

        func run() throws {
            do {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CLIError("\(model): not a model directory")
                }
                guard FileManager.default.fileExists(atPath: model + "/config.json") else {
                    throw CLIError("\(model): no config.json; name a Hugging Face model directory")
                }
                for (flag, value) in [("--kgco2eq", kgco2eq), ("--embodied-kgco2eq", embodiedKgco2eq), ("--kwh", kwh), ("--device-hours", deviceHours),
                                      ("--tokens", tokens.map(Double.init))] {
                    if let value, !(value.isFinite && value >= 0 && value < 0x1p53) { throw CLIError("\(flag) \(value): expected a finite number >= 0") }
                }
                guard !source.trimmingCharacters(in: .whitespaces).isEmpty else { throw CLIError("--source: say where the figures come from") }
                let existing = try LineageFile.read(directory: model)
                if let existing, existing.footprint != nil, existing.source == nil {
                    throw CLIError("\(LineageFile.path(in: model)): atelier measured this model's footprint (job \(existing.jobID ?? existing.name)); a recorded figure would replace the measurement")
                }
                let node = Lineage(name: name ?? existing?.name ?? URL(fileURLWithPath: model).lastPathComponent,
                                   footprint: Footprint(tokens: tokens, deviceHours: deviceHours, energyKWh: kwh, operationalKg: kgco2eq,
                                                        embodiedKg: embodiedKgco2eq),
                                   source: source, ancestors: existing?.ancestors ?? [])
                try LineageFile.write(node, directory: model)
                print("recorded in \(LineageFile.path(in: model)): \(node.name): \(kgco2eq) kgCO2eq operational, "
                      + "\(embodiedKgco2eq.map { "\($0)" } ?? "unknown") embodied, \(kwh.map { "\($0)" } ?? "unknown") kWh (source: \(source))")
            } catch {
                FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
                throw ExitCode(ExitStatus.of(error).0.rawValue)
            }
        }
    }
}

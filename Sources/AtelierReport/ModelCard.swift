import AtelierAccounting
import AtelierCore
import Foundation

/// The README.md `atelier export --format hf` writes beside the weights: a Hugging Face model card
/// (docs/accounting.md, "Model cards"). Its YAML front matter has the Hub's `co2_eq_emissions`
/// (emissions in grams: the cumulative operational + embodied total, ancestors included) and an
/// `atelier_footprint` block with the own and cumulative figures; the body gives the shape, the
/// tokens, the languages and their shares, the newest validation per language, the energy and
/// emissions split and how they were measured, and the lineage.
public struct ModelCard {
    public var lineage: Lineage            // the model (its own footprint) and the models it started from
    public var shape: ModelShape
    public var parameters: Int
    public var dtype: String               // the exported weights' torch dtype name
    public var exportedFrom: String        // e.g. "iteration 6 of runs/x/checkpoints/iter_0000006.h5"
    public var validation: NewestValidation?

    public init(lineage: Lineage, shape: ModelShape, parameters: Int, dtype: String, exportedFrom: String, validation: NewestValidation?) {
        (self.lineage, self.shape, self.parameters, self.dtype, self.exportedFrom, self.validation) = (lineage, shape, parameters, dtype, exportedFrom, validation)
    }

    /// "fine-tuning" when the model started from another, "pre-training" otherwise (the Hub's words).
    public var trainingType: String { lineage.ancestors.isEmpty ? "pre-training" : "fine-tuning" }

    /// Dataset names that are language codes (ISO 639-1 or -3: 2 or 3 lowercase letters) go in
    /// the front matter's `language`; other names only in the body.
    var languageCodes: [String] {
        (lineage.mixture ?? []).map(\.name).filter { $0.count >= 2 && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isLowercase } }
    }

    /// A YAML double-quoted scalar: every character outside printable ASCII escaped, so nothing in a
    /// name or a path can end the string or the front matter.
    static func yaml(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case " "..."~": out.unicodeScalars.append(scalar)
            default: out += scalar.value <= 0xFFFF ? String(format: "\\u%04X", scalar.value) : String(format: "\\U%08X", scalar.value)
            }
        }
        return out + "\""
    }

    /// A number as YAML reads it back exactly: Swift's shortest round-trip digits, with a point in
    /// the mantissa (YAML 1.1 readers such as PyYAML take "1e-05" for a string, "1.0e-05" for a float).
    static func number(_ x: Double) -> String {
        let s = "\(x)"
        guard let e = s.firstIndex(of: "e"), !s[..<e].contains(".") else { return s }
        return s[..<e] + ".0" + s[e...]
    }

    public var markdown: String { frontMatter + "\n" + body }

    var frontMatter: String {
        let own = lineage.footprint, cumulative = lineage.cumulative
        var y = "---\n"
        let codes = languageCodes
        y += codes.isEmpty ? "" : "language:\n" + codes.map { "- \($0)\n" }.joined()
        y += "library_name: transformers\nlicense: other\npipeline_tag: text-generation\ntags:\n- bloom\n- atelier\n"
        if let grams = cumulative.footprint.totalKg.map({ $0 * 1000 }) {
            let excluded = LineageReport.exclusions(cumulative)
            y += "co2_eq_emissions:\n"
            y += "  emissions: \(Self.number(grams))\n"
            y += "  source: " + Self.yaml("atelier: measured during training (operational + embodied, this model and its ancestors"
                + (excluded.isEmpty ? "" : "; " + excluded) + "; see the Environmental impact section)") + "\n"
            y += "  training_type: " + Self.yaml(trainingType) + "\n"
            if let location = [lineage.location, lineage.site.map { "site \($0)" }].compactMap({ $0 }).joined(separator: ", ").nonEmpty {
                y += "  geographical_location: " + Self.yaml(location) + "\n"
            }
            if let hardware = lineage.hardware { y += "  hardware_used: " + Self.yaml(hardware) + "\n" }
        }
        y += "atelier_footprint:\n"
        for (label, f) in [("own", own), ("cumulative", Optional(cumulative.footprint))] {
            guard let f else { y += "  \(label): unknown\n"; continue }
            y += "  \(label):\n"
            y += "    tokens: " + (f.tokens.map { "\($0)" } ?? "unknown") + "\n"
            let grams: (Double?) -> Double? = { kg in kg.map { $0 * 1000 } }
            let figures: [(String, Double?)] = [("device_hours", f.deviceHours), ("energy_kwh", f.energyKWh),
                                                ("operational_grams", grams(f.operationalKg)), ("embodied_grams", grams(f.embodiedKg)),
                                                ("total_grams", grams(f.totalKg))]
            for (key, value) in figures { y += "    \(key): " + (value.map(Self.number) ?? "unknown") + "\n" }
        }
        if !cumulative.isComplete {
            y += "  excluded_unknown: [" + Array(Set(cumulative.excluded.values.flatMap { $0 })).sorted().map(Self.yaml).joined(separator: ", ") + "]\n"
        }
        return y + "---\n"
    }

    var body: String {
        let fig = LineageReport.figure
        var md = "# \(lineage.name)\n\n"
        md += "A BLOOM-architecture causal language model (ALiBi positions, tied embeddings) trained with Atelier"
            + (lineage.workingGroup.map { " by the working group `\($0)`" } ?? "") + (lineage.site.map { " at the site `\($0)`" } ?? "")
            + ", exported from \(exportedFrom)"
            + (lineage.ancestors.isEmpty ? ". It was trained from scratch.\n\n"
               : ", starting from " + lineage.ancestors.map { "`\($0.name)`" }.joined(separator: " and ") + ".\n\n")
        md += "## Shape\n\n| | |\n|---|---|\n"
        md += "| vocabulary | \(shape.vocabSize) |\n| hidden size | \(shape.hiddenSize) |\n| layers | \(shape.layers) |\n"
        md += "| attention heads | \(shape.heads) |\n| trained sequence length | \(shape.sequenceLength) |\n"
        md += "| parameters | \(parameters) |\n| weights | \(dtype) |\n\n"
        md += "## Training data\n\n"
        md += "Tokens trained: \(LineageReport.tokens(lineage.footprint?.tokens)) by this model"
            + (lineage.ancestors.isEmpty ? "" : "; \(LineageReport.tokens(lineage.cumulative.footprint.tokens)) with its ancestors"
               + (lineage.cumulative.excluded["tokens"].map { " (excluding the unknown tokens of \($0.joined(separator: ", ")))" } ?? ""))
            + ".\n\n"
        if let mixture = lineage.mixture, !mixture.isEmpty {
            md += "| dataset (language) | share of training samples |\n|---|---|\n"
            md += mixture.map { "| \($0.name) | \(String(format: "%.4f", $0.share)) |\n" }.joined() + "\n"
        } else {
            md += "The mixture of datasets is not recorded (byte-level or random data).\n\n"
        }
        md += "## Evaluation\n\n"
        if let v = validation, !v.results.isEmpty {
            md += "Newest validation, at iteration \(v.iteration), on each dataset's held-out windows:\n\n"
            md += "| dataset (language) | loss (nats/token) | bits per byte |\n|---|---|---|\n"
            md += v.results.sorted { $0.dataset < $1.dataset }
                .map { "| \($0.dataset) | \(String(format: "%.4f", $0.loss)) | \(String(format: "%.4f", $0.bitsPerByte)) |\n" }.joined() + "\n"
        } else {
            md += "No validation was recorded with the checkpoint.\n\n"
        }
        md += "## Environmental impact\n\n"
        md += "| | this model | with its ancestors |\n|---|---|---|\n"
        let own = lineage.footprint, all = lineage.cumulative.footprint
        md += "| tokens | \(LineageReport.tokens(own?.tokens)) | \(LineageReport.tokens(all.tokens)) |\n"
        for (label, a, b) in [("device-hours", own?.deviceHours, all.deviceHours), ("energy (kWh, facility)", own?.energyKWh, all.energyKWh),
                              ("operational emissions (kgCO2eq)", own?.operationalKg, all.operationalKg),
                              ("embodied emissions (kgCO2eq)", own?.embodiedKg, all.embodiedKg),
                              ("total emissions (kgCO2eq)", own?.totalKg, all.totalKg)] {
            md += "| \(label) | \(fig(a)) | \(fig(b)) |\n"
        }
        let excluded = LineageReport.exclusions(lineage.cumulative)
        md += "\n" + (excluded.isEmpty ? "" : "The cumulative figures \(excluded): not zero, not known.\n\n")
        md += "This model's own figures are its checkpoint's accounting totals: the work its weights contain, "
            + "counted in intervals that close before every save. Work lost to restarts is not in them (the site's ledger has it).\n\n"
        md += "**How it was measured.** " + (lineage.measurement ?? "unknown") + ". "
            + "Energy = IT energy (CPU + GPU + RAM + static) x PUE; operational emissions = energy x grid intensity; "
            + "embodied = device-hours and server-hours x the hardware's manufacturing emissions spread over its used lifetime.\n"
        if let hardware = lineage.hardware { md += "Hardware: \(hardware).\n" }
        md += "\n### Lineage\n\n"
        func walk(_ n: Lineage, _ depth: Int) {
            md += String(repeating: "  ", count: depth) + "- `\(n.name)`" + (depth == 0 ? " (this model)" : "") + ": "
                + LineageReport.line(n.footprint) + (LineageReport.describe(n).nonEmpty.map { " — \($0)" } ?? "") + "\n"
            for a in n.ancestors { walk(a, depth + 1) }
        }
        walk(lineage, 0)
        return md
    }
}

extension String {
    /// nil for the empty string.
    var nonEmpty: String? { isEmpty ? nil : self }
}

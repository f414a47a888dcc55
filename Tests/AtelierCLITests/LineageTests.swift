import Foundation
import XCTest

/// A model's cost with its ancestors (docs/accounting.md, "Lineage" and "Model cards"): three
/// generations of tiny models through export and init_from, exact sums, the model card's front
/// matter, "unknown" for a model from elsewhere and a recorded published figure.
final class LineageTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "trains real jobs; run with swift test -c release")
        dir = try temporaryDirectory("lineage")
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func run(_ args: [String], _ file: StaticString = #filePath, line: UInt = #line) throws -> AtelierProcess.Result {
        let r = try AtelierProcess.run(args)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)", file: file, line: line)
        return r
    }

    // What `report --lineage --json` and the card's front matter hold, decoded with JSONDecoder:
    // JSONSerialization on Linux parses some doubles one ulp off, and these sums are checked exactly.
    struct Figures: Decodable {
        var tokens: Int?
        var device_hours, energy_kwh, operational_kgco2eq, embodied_kgco2eq: Double?
    }
    struct Share: Decodable { var name: String; var share: Double }
    struct Node: Decodable {
        var name: String
        var job_id, working_group, site: String?
        var mixture: [Share]?
        var footprint: Figures?
        var ancestors: [Node]
    }
    struct Cumulative: Decodable { var footprint: Figures; var excluded: [String: [String]] }
    struct LineageJSON: Decodable { var model: Node; var own: Figures?; var cumulative: Cumulative }
    struct CO2: Decodable {
        var emissions: Double
        var source, training_type: String
        var geographical_location, hardware_used: String?
    }
    struct CardFigures: Decodable { var tokens: Int; var energy_kwh, total_grams: Double }
    struct Card: Decodable {
        var co2_eq_emissions: CO2
        var language: [String]?
        var library_name: String
        var atelier_footprint: [String: CardFigures]
    }
    struct CardCO2: Decodable { var co2_eq_emissions: CO2 }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            XCTFail("\(error) in \(text)")
            throw error
        }
    }

    func lineage(_ path: String) throws -> LineageJSON {
        try decode(LineageJSON.self, try run(["report", "--lineage", path, "--json"]).stdout)
    }

    /// A 300-token tokenizer and two indexed datasets, English and German.
    func prepareData() throws -> String {
        var all: [String] = []
        for lang in ["en", "de"] {
            var lines: [String] = []
            for i in 0..<80 {
                let text = lang == "en" ? "The manual page \(i) lists every option of the command, with \(i % 9) examples."
                    : "Die Handbuchseite \(i) beschreibt jede Option des Befehls, mit \(i % 7) Beispielen."
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: ["text": text]), as: UTF8.self))
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: path("\(lang).jsonl"), atomically: true, encoding: .utf8)
            all += lines
        }
        try (all.joined(separator: "\n") + "\n").write(toFile: path("all.jsonl"), atomically: true, encoding: .utf8)
        _ = try run(["tokenizer", "train", path("all.jsonl"), "--vocab-size", "300", "--output", path("tokenizer.json")])
        for lang in ["en", "de"] {
            _ = try run(["preprocess", path("\(lang).jsonl"), "--tokenizer", path("tokenizer.json"), "--output-prefix", path("data/\(lang)")])
        }
        return path("tokenizer.json")
    }

    func writeJob(_ name: String, tokenizer: String, initFrom: String? = nil) throws -> String {
        let job = """
        name = "\(name)"
        working_group = "tests"
        seed = 5
        run_dir = "\(path("runs/\(name)"))"
        [model]
        vocab_size = 320
        hidden_size = 32
        layers = 2
        heads = 4
        seq_length = 32
        \(initFrom.map { "init_from = \"\($0)\"" } ?? "")
        [data]
        kind = "indexed"
        tokenizer = "\(tokenizer)"
        validation_fraction = 0.1
        [data.datasets.en]
        prefix = "\(path("data/en_text_document"))"
        weight = 3
        [data.datasets.de]
        prefix = "\(path("data/de_text_document"))"
        weight = 1
        [batch]
        micro_batch_size = 4
        global_batch_size = 4
        [optimizer]
        lr = 3e-3
        [train]
        iterations = 3
        eval_interval = 3
        eval_samples = 2
        [accounting]
        cluster_profile = "\(try writeTestProfile(in: dir))"
        ledger = "\(path("runs/ledger.sqlite"))"
        """
        try job.write(toFile: path("\(name).toml"), atomically: true, encoding: .utf8)
        return path("\(name).toml")
    }

    /// A checkpoint's own footprint as `checkpoint inspect` prints it: the accounting totals
    /// (Swift's round-trip form) and the tokens consumed.
    func own(_ checkpoint: String) throws -> (tokens: Int, deviceHours: Double, kWh: Double, operational: Double, embodied: Double) {
        let text = try run(["checkpoint", "inspect", checkpoint]).stdout
        let accounting = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("accounting: ") })
        var values: [String: Double] = [:]
        for pair in accounting.dropFirst("accounting: ".count).split(separator: " ") {
            let parts = pair.split(separator: "=")
            values[String(parts[0])] = Double(String(parts[1]))
        }
        let state = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("state: ") })
        let tokens = try XCTUnwrap(Int(state.split(separator: "/")[1].split(separator: " ")[0]), String(state))
        XCTAssertGreaterThan(values["emissions_kg"] ?? 0, 0, "no emissions counted in \(checkpoint)")
        return (tokens, try XCTUnwrap(values["device_seconds"]) / 3600, try XCTUnwrap(values["energy_kwh"]),
                try XCTUnwrap(values["emissions_kg"]), try XCTUnwrap(values["embodied_kg"]))
    }

    /// The YAML front matter of a model card as JSON, through PyYAML (skipped without it).
    func frontMatter<T: Decodable>(_ readme: String, as type: T.Type) throws -> T {
        let probe = try AtelierProcess.command(["python3", "-c", "import yaml"])
        try XCTSkipUnless(probe.status == 0, "python3 has no yaml module (pip install pyyaml) to parse the model card's front matter")
        let r = try AtelierProcess.command(["python3", "-c", """
            import json, sys, yaml
            text = open(sys.argv[1], encoding="utf-8").read()
            assert text.startswith("---\\n"), "no front matter"
            meta = yaml.safe_load(text.split("---\\n")[1])
            print(json.dumps(meta))
            """, readme])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try decode(type, r.stdout)
    }

    /// pretrain -> export -> adapt (init_from the export) -> export -> adapt again (init_from the
    /// second run's checkpoint): the third model's lineage has both ancestors, and its cumulative
    /// cost is exactly own + parent + grandparent, field by field.
    func testThreeGenerationsThroughExportAndInitFrom() throws {
        let tokenizer = try prepareData()
        _ = try run(["train", try writeJob("first", tokenizer: tokenizer)])
        let firstCheckpoint = path("runs/first/checkpoints/iter_0000003.h5")
        _ = try run(["export", firstCheckpoint, path("exports/first")])
        let second = try run(["train", try writeJob("second", tokenizer: tokenizer, initFrom: path("exports/first"))])
        XCTAssertTrue(second.stdout.contains("lineage: starts from first, with its measured footprint and 0 ancestors of its own"), second.stdout)
        let secondCheckpoint = path("runs/second/checkpoints/iter_0000003.h5")
        _ = try run(["export", secondCheckpoint, path("exports/second"), "--dtype", "bf16"])
        let third = try run(["train", try writeJob("third", tokenizer: tokenizer, initFrom: secondCheckpoint)])
        XCTAssertTrue(third.stdout.contains("initialised from the checkpoint \(secondCheckpoint)"), third.stdout)
        XCTAssertTrue(third.stdout.contains("lineage: starts from second, with its measured footprint and 1 ancestor of its own"), third.stdout)
        let thirdCheckpoint = path("runs/third/checkpoints/iter_0000003.h5")
        _ = try run(["export", thirdCheckpoint, path("exports/third")])

        let (o3, o2, o1) = (try own(thirdCheckpoint), try own(secondCheckpoint), try own(firstCheckpoint))
        // the report on the run directory, the checkpoint and the export agree
        let reports = try [path("runs/third"), thirdCheckpoint, path("exports/third")].map(lineage)
        for report in reports {
            let model = report.model
            XCTAssertEqual(model.name, "third")
            let parent = try XCTUnwrap(model.ancestors.first)
            XCTAssertEqual(parent.name, "second")
            let grandparent = try XCTUnwrap(parent.ancestors.first)
            XCTAssertEqual(grandparent.name, "first")
            XCTAssertEqual(grandparent.ancestors.count, 0)
            XCTAssertEqual(model.working_group, "tests")
            XCTAssertEqual(model.site, "testsite")
            XCTAssertNotNil(model.job_id)
            XCTAssertEqual(model.mixture?.map(\.name), ["de", "en"])
            XCTAssertEqual(model.mixture?.map(\.share), [0.25, 0.75])

            XCTAssertEqual(report.own?.operational_kgco2eq, o3.operational)
            XCTAssertEqual(report.own?.tokens, o3.tokens)
            XCTAssertEqual(o3.tokens, 3 * 4 * 32)
            XCTAssertEqual(parent.footprint?.embodied_kgco2eq, o2.embodied)
            XCTAssertEqual(grandparent.footprint?.energy_kwh, o1.kWh)

            let cumulative = report.cumulative.footprint
            XCTAssertEqual(cumulative.tokens, o3.tokens + o2.tokens + o1.tokens)
            XCTAssertEqual(cumulative.device_hours, o3.deviceHours + o2.deviceHours + o1.deviceHours)
            XCTAssertEqual(cumulative.energy_kwh, o3.kWh + o2.kWh + o1.kWh)
            XCTAssertEqual(cumulative.operational_kgco2eq, o3.operational + o2.operational + o1.operational)
            XCTAssertEqual(cumulative.embodied_kgco2eq, o3.embodied + o2.embodied + o1.embodied)
            XCTAssertEqual(report.cumulative.excluded, [:])
        }

        // the model cards: the Hub's co2_eq_emissions in grams, the cumulative total; own and cumulative in atelier_footprint
        let card = try frontMatter(path("exports/third/README.md"), as: Card.self)
        let co2 = card.co2_eq_emissions
        let cumulativeKg = (o3.operational + o2.operational + o1.operational) + (o3.embodied + o2.embodied + o1.embodied)
        XCTAssertEqual(co2.emissions, cumulativeKg * 1000)
        XCTAssertEqual(co2.training_type, "fine-tuning")
        XCTAssertEqual(co2.geographical_location, "site testsite")
        XCTAssertEqual(co2.hardware_used, "2 CPU cores of test cpu")   // one rank with the profile's 2 cores as BLAS threads
        XCTAssertTrue(co2.source.hasPrefix("atelier: measured during training"), co2.source)
        XCTAssertEqual(card.language, ["de", "en"])
        XCTAssertEqual(card.library_name, "transformers")
        XCTAssertEqual(card.atelier_footprint["own"]?.total_grams, (o3.operational + o3.embodied) * 1000)
        XCTAssertEqual(card.atelier_footprint["own"]?.energy_kwh, o3.kWh)
        XCTAssertEqual(card.atelier_footprint["cumulative"]?.tokens, o3.tokens + o2.tokens + o1.tokens)
        XCTAssertEqual(try frontMatter(path("exports/first/README.md"), as: CardCO2.self).co2_eq_emissions.training_type, "pre-training")
        let readme = try String(contentsOfFile: path("exports/third/README.md"), encoding: .utf8)
        for expected in ["| layers | 2 |", "| en | 0.7500 |", "| de | 0.2500 |", "Newest validation, at iteration 3", "| operational emissions (kgCO2eq) |",
                         "PUE 1.5", "grid 100 gCO2eq/kWh", "- `third` (this model)", "  - `second`", "    - `first`"] {
            XCTAssertTrue(readme.contains(expected), "the model card lacks \(expected):\n\(readme)")
        }
        XCTAssertTrue(readme.split(separator: "\n").contains { $0.hasPrefix("| de | ") && $0.split(separator: "|").count == 3 },
                      "no validation row (loss, bits per byte) for de:\n\(readme)")
        // re-exporting the export keeps its lineage and card
        _ = try run(["export", path("exports/second"), path("exports/second-f32")])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("exports/second-f32/atelier-lineage.json"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("exports/second/atelier-lineage.json"))))

        // the text tree and the HTML section
        let text = try run(["report", "--lineage", path("runs/third")]).stdout
        XCTAssertTrue(text.contains("└─ second") && text.contains("└─ first"), text)
        XCTAssertTrue(text.contains("cumulative: \(o3.tokens + o2.tokens + o1.tokens) tokens"), text)
        _ = try run(["report", "--lineage", path("exports/third"), "--ledger", path("runs/ledger.sqlite"), "--html", path("report.html")])
        let html = try String(contentsOfFile: path("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Lineage of third</h2>") && html.contains("<b>first</b>"), html)
        XCTAssertFalse(html.contains("<script"))
    }

    /// A model from elsewhere is "unknown", never 0, until a published figure is recorded for it;
    /// then the report says where it came from. Bad input is refused with exit 2.
    func testOutsideModelIsUnknownUntilRecorded() throws {
        let tokenizer = try prepareData()
        _ = try run(["train", try writeJob("first", tokenizer: tokenizer)])
        _ = try run(["export", path("runs/first/checkpoints/iter_0000003.h5"), path("outside")])
        try FileManager.default.removeItem(atPath: path("outside/atelier-lineage.json"))   // as if downloaded from elsewhere
        try FileManager.default.removeItem(atPath: path("outside/README.md"))
        let unknownReport = try run(["report", "--lineage", path("outside")]).stdout
        XCTAssertTrue(unknownReport.contains("own:        unknown") && unknownReport.contains("footprint unknown: a model from elsewhere"), unknownReport)
        XCTAssertFalse(unknownReport.contains(" 0 kWh"), unknownReport)

        let adapted = try run(["train", try writeJob("adapted", tokenizer: tokenizer, initFrom: path("outside"))])
        XCTAssertTrue(adapted.stdout.contains("whose footprint is unknown"), adapted.stdout)
        let report = try lineage(path("runs/adapted"))
        let ancestor = try XCTUnwrap(report.model.ancestors.first)
        XCTAssertEqual(ancestor.name, path("outside"))
        XCTAssertNil(ancestor.footprint, "an unknown footprint must not be written as numbers")
        XCTAssertEqual(report.cumulative.excluded["operational_kgco2eq"], [path("outside")])
        XCTAssertEqual(report.cumulative.footprint.operational_kgco2eq, report.own?.operational_kgco2eq, "an unknown ancestor adds nothing")
        let text = try run(["report", "--lineage", path("runs/adapted")]).stdout
        XCTAssertTrue(text.contains("(excludes the unknown device_hours, embodied_kgco2eq, energy_kwh, operational_kgco2eq, tokens of \(path("outside")))"), text)
        _ = try run(["export", path("runs/adapted/checkpoints/iter_0000003.h5"), path("exports/adapted")])
        let card = try frontMatter(path("exports/adapted/README.md"), as: CardCO2.self)
        XCTAssertTrue(card.co2_eq_emissions.source.contains("excludes the unknown"), card.co2_eq_emissions.source)

        // a published figure for the outside model, then a model trained from it
        let recorded = try run(["lineage", "add", path("outside"), "--kgco2eq", "14.6", "--kwh", "25.7", "--name", "bloom-like",
                                "--source", "Luccioni et al. 2023, table 5"])
        XCTAssertTrue(recorded.stdout.contains("bloom-like"), recorded.stdout)
        _ = try run(["train", try writeJob("after", tokenizer: tokenizer, initFrom: path("outside"))])
        let after = try run(["report", "--lineage", path("runs/after")]).stdout
        XCTAssertTrue(after.contains("bloom-like  (recorded figure, source: Luccioni et al. 2023, table 5)"), after)
        XCTAssertTrue(after.contains("unknown kgCO2eq"), "embodied was not given: the ancestor's total is unknown\n\(after)")
        let afterJSON = try lineage(path("runs/after"))
        let own = try XCTUnwrap(afterJSON.own?.operational_kgco2eq)
        XCTAssertEqual(afterJSON.cumulative.footprint.operational_kgco2eq, own + 14.6)
        XCTAssertEqual(afterJSON.cumulative.excluded["embodied_kgco2eq"], ["bloom-like"])

        // bad input: exit 2, nothing written
        for (args, expected) in [(["lineage", "add", path("outside"), "--kgco2eq=-1", "--source", "x"], "--kgco2eq -1"),
                                 (["lineage", "add", path("outside"), "--kgco2eq", "1", "--source", " "], "--source"),
                                 (["lineage", "add", path("exports/adapted"), "--kgco2eq", "1", "--source", "x"], "atelier measured"),
                                 (["lineage", "add", path("nowhere"), "--kgco2eq", "1", "--source", "x"], "nowhere"),
                                 (["report", "--lineage", path("nowhere")], "nowhere")] {
            let r = try AtelierProcess.run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
        try #"{"name": "m", "ancestors": [], "footprint": {"energy_kwh": -3}}"#.write(toFile: path("outside/atelier-lineage.json"), atomically: true, encoding: .utf8)
        let damaged = try AtelierProcess.run(["report", "--lineage", path("outside")])
        XCTAssertEqual(damaged.status, 2, damaged.stderr)
        XCTAssertTrue(damaged.stderr.contains("outside/atelier-lineage.json: model 'm': energy_kwh is -3.0"), damaged.stderr)
        let refused = try AtelierProcess.run(["train", try writeJob("refused", tokenizer: tokenizer, initFrom: path("outside"))])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("runs/refused/checkpoints")))
    }
}

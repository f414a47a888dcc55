import Foundation
import XCTest

/// jobs/multilinguality/bloom-560m-adapt.toml, the path a working group takes to adapt BLOOM-560m
/// to a new language, run as shipped but for the files (a random model of BLOOM-560m's widths
/// with 2 layers in place of the download, in bf16 shards as the Hub publishes larger BLOOMs; a
/// small tokenizer; German text) and a shorter run.
final class BloomAdaptTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "trains real jobs; run with swift test -c release")
        dir = try temporaryDirectory("adapt")
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func testAdaptJobRunsOnARandomModelOfBloom560mWidths() throws {
        // German text, a tokenizer, and the dataset through atelier preprocess
        var lines: [String] = []
        for i in 0..<200 {
            let text = "Die Handbuchseite \(i) beschreibt den Befehl und jede seiner \(i % 11) Optionen, mit Beispielen für die Shell."
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: ["text": text, "lang": "de"]), as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path("de.jsonl"), atomically: true, encoding: .utf8)
        let tokenizer = try AtelierProcess.run(["tokenizer", "train", path("de.jsonl"), "--vocab-size", "400", "--output", path("tokenizer.json")])
        XCTAssertEqual(tokenizer.status, 0, tokenizer.stderr)
        let pre = try AtelierProcess.run(["preprocess", path("de.jsonl"), "--tokenizer", path("tokenizer.json"), "--output-prefix", path("data/de")])
        XCTAssertEqual(pre.status, 0, pre.stderr)

        // "the download": random weights of BLOOM-560m's widths, exported as bf16 shards with the tokenizer
        let profile = try writeTestProfile(in: dir)
        let widths = ["--set", "model.layers=2", "--set", "model.seq_length=32"]   // the site profile: cluster/local.toml
        try """
            name = "random-bloom-560m-widths"
            working_group = "tests"
            run_dir = "\(path("runs/random"))"
            [model]
            vocab_size = 250880
            hidden_size = 1024
            layers = 2
            heads = 16
            seq_length = 32
            [data]
            kind = "random"
            [batch]
            micro_batch_size = 1
            global_batch_size = 1
            [optimizer]
            lr = 1e-4
            [train]
            iterations = 1
            [accounting]
            cluster_profile = "\(profile)"
            """.write(toFile: path("random.toml"), atomically: true, encoding: .utf8)
        let random = try AtelierProcess.run(["train", path("random.toml")])
        XCTAssertEqual(random.status, 0, random.stderr)
        let export = try AtelierProcess.run(["export", path("runs/random/checkpoints/iter_0000001.h5"), path("models/bloom-560m"),
                                             "--dtype", "bf16", "--max-shard-size", "300MB", "--tokenizer", path("tokenizer.json")])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("models/bloom-560m/model.safetensors.index.json")), export.stdout)

        // the job as shipped, pointed at those files
        let adapt = try AtelierProcess.run(["train", "jobs/multilinguality/bloom-560m-adapt.toml"] + widths + [
            "--set", "run_dir=\(path("runs/adapt"))", "--set", "model.init_from=\(path("models/bloom-560m"))",
            "--set", "data.tokenizer=\(path("models/bloom-560m/tokenizer.json"))", "--set", "data.datasets.de.prefix=\(path("data/de_text_document"))",
            "--set", "train.iterations=4", "--set", "train.log_interval=1", "--set", "batch.global_batch_size=2",
            "--set", "schedule.warmup_samples=0", "--set", "optimizer.lr=1e-3"], cwd: TrainCommandTests.root)
        XCTAssertEqual(adapt.status, 0, adapt.stderr)
        XCTAssertTrue(adapt.stdout.contains("initialised from the Hugging Face model in \(path("models/bloom-560m"))"), adapt.stdout)
        XCTAssertTrue(adapt.stdout.contains("vocab 250880"), adapt.stdout)
        let losses = try readMetrics(URL(fileURLWithPath: path("runs/adapt/metrics.jsonl"))).compactMap { $0["loss"] as? Double }
        XCTAssertEqual(losses.count, 4)
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertLessThan(losses.last!, losses.first!, "the loss did not fall: \(losses)")

        // and back out, to generate from
        let out = try AtelierProcess.run(["export", path("runs/adapt/checkpoints/iter_0000004.h5"), path("adapted"), "--dtype", "bf16"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let generated = try AtelierProcess.run(["generate", path("adapted"), "--prompt", "Die Handbuchseite", "--max-tokens", "4", "--temperature", "0"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertTrue(generated.stdout.hasPrefix("Die Handbuchseite"), generated.stdout)
    }
}

import Foundation
import XCTest

/// JSON lines -> tokenizer -> indexed datasets -> a mixture job, through the CLI.
final class DataPipelineTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "trains real jobs; run with swift test -c release")
        dir = try temporaryDirectory("pipeline")
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    /// 3 languages x 60 documents, plus `bad` broken lines.
    func writeCorpus(bad: Int = 0) throws -> String {
        let texts = ["en": "The manual page describes the command and every option it takes, with examples",
                     "fr": "La page de manuel décrit la commande et chacune de ses options, avec des exemples",
                     "ru": "Страница руководства описывает команду и каждый её параметр, с примерами"]
        var lines: [String] = []
        for i in 0..<60 {
            for (lang, text) in texts.sorted(by: { $0.key < $1.key }) {
                let object = ["text": "\(text) \(i). " + String(repeating: "\(text) \(i * 7 % 13). ", count: 1 + i % 4), "lang": lang]
                lines.append(String(data: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), encoding: .utf8)!)
            }
        }
        for i in 0..<bad { lines.insert(i % 2 == 0 ? "{not json" : "{\"txt\": 1}", at: 5 + 7 * i) }
        let path = dir.appendingPathComponent("corpus.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func prepare() throws -> (tokenizer: String, prefix: String) {
        let corpus = try writeCorpus(bad: 1)
        let tokenizer = dir.appendingPathComponent("tokenizer.json").path
        let trained = try AtelierProcess.run(["tokenizer", "train", corpus, "--vocab-size", "400", "--output", tokenizer])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let prefix = dir.appendingPathComponent("data/c").path
        let one = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", tokenizer, "--output-prefix", prefix, "--by-language"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stderr.contains("corpus.jsonl:6: not a JSON object"), one.stderr)
        // the same on 2 ranks, byte for byte
        let prefix2 = dir.appendingPathComponent("data2/c").path
        let two = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", tokenizer, "--output-prefix", prefix2, "--by-language"], ranks: 2)
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertTrue(two.stdout.contains("on 2 ranks"), two.stdout)
        for lang in ["en", "fr", "ru"] {
            for ext in ["bin", "idx"] {
                let a = try Data(contentsOf: URL(fileURLWithPath: "\(prefix)_\(lang)_text_document.\(ext)"))
                let b = try Data(contentsOf: URL(fileURLWithPath: "\(prefix2)_\(lang)_text_document.\(ext)"))
                XCTAssertEqual(a, b, "\(lang).\(ext)")
            }
        }
        return (tokenizer, prefix)
    }

    /// A job on the datasets `NAME = PREFIX` (en, fr and ru of `prefix` when nil).
    func writeJob(_ name: String, tokenizer: String, prefix: String, datasets: [(String, String)]? = nil) throws -> String {
        let sections = (datasets ?? ["en", "fr", "ru"].map { ($0, "\(prefix)_\($0)_text_document") })
            .map { "[data.datasets.\($0.0)]\nprefix = \"\($0.1)\"" }.joined(separator: "\n")
        let profile = try writeTestProfile(in: dir)
        let job = """
        name = "\(name)"
        working_group = "tests"
        seed = 5
        run_dir = "\(dir.appendingPathComponent("runs/\(name)").path)"
        [model]
        vocab_size = 448
        hidden_size = 32
        layers = 2
        heads = 4
        seq_length = 32
        [data]
        kind = "indexed"
        tokenizer = "\(tokenizer)"
        alpha = 0.5
        validation_fraction = 0.1
        \(sections)
        [batch]
        micro_batch_size = 4
        global_batch_size = 8
        [optimizer]
        lr = 3e-3
        [schedule]
        warmup_samples = 16
        decay_samples = 160
        [train]
        iterations = 20
        log_interval = 1
        eval_interval = 10
        eval_samples = 4
        [checkpoint]
        interval_iterations = 10
        [accounting]
        cluster_profile = "\(profile)"
        """
        let path = dir.appendingPathComponent("\(name).toml").path
        try job.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A mixture job resumed at iteration 10 reads the same samples as an uninterrupted one (the
    /// cursor is in the checkpoint): same losses, same validation; and generation is reproducible.
    func testMixtureResumesOnTheSameOrderAndGenerates() throws {
        let (tokenizer, prefix) = try prepare()
        let straight = try writeJob("straight", tokenizer: tokenizer, prefix: prefix)
        let resumed = try writeJob("resumed", tokenizer: tokenizer, prefix: prefix)
        XCTAssertEqual(try AtelierProcess.run(["train", straight], ranks: 2).status, 0)
        XCTAssertEqual(try AtelierProcess.run(["train", resumed, "--set", "train.iterations=10"], ranks: 2).status, 0)
        let second = try AtelierProcess.run(["train", resumed], ranks: 2)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("resumed from"), second.stdout)
        let a = try readMetrics(dir.appendingPathComponent("runs/straight/metrics.jsonl"))
        let b = try readMetrics(dir.appendingPathComponent("runs/resumed/metrics.jsonl"))
        let lossA = a.compactMap { $0["loss"] as? Double }, lossB = b.compactMap { $0["loss"] as? Double }
        XCTAssertEqual(lossA.count, 20)
        XCTAssertEqual(lossA, lossB)
        let validationA = a.compactMap { $0["validation"] as? [String: [String: Double]] }
        let validationB = b.compactMap { $0["validation"] as? [String: [String: Double]] }
        XCTAssertEqual(validationA.count, 2)
        XCTAssertEqual(validationA.last.map { Set($0.keys) }, ["en", "fr", "ru"])
        XCTAssertEqual(validationA.last?["ru"]?["loss"], validationB.last?["ru"]?["loss"])
        // stored for the report: the newest validation per language
        let report = try AtelierProcess.run(["report", "--ledger", dir.appendingPathComponent("runs/ledger.sqlite").path, "--job", "straight"])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.stdout.contains("validation set") && report.stdout.contains(" ru ") && report.stdout.contains("bits/byte"), report.stdout)
        let checkpoint = dir.appendingPathComponent("runs/straight/checkpoints/iter_0000020.h5").path
        let g1 = try AtelierProcess.run(["generate", checkpoint, "--prompt", "La page", "--max-tokens", "12", "--seed", "9"])
        let g2 = try AtelierProcess.run(["generate", checkpoint, "--prompt", "La page", "--max-tokens", "12", "--seed", "9"])
        XCTAssertEqual(g1.status, 0, g1.stderr)
        XCTAssertTrue(g1.stdout.hasPrefix("La page"), g1.stdout)
        XCTAssertEqual(g1.stdout, g2.stdout)
        let bad = try AtelierProcess.run(["generate", checkpoint, "--prompt", "x", "--temperature=-1"])
        XCTAssertEqual(bad.status, 2)
    }

    /// Above the bad-line threshold nothing is written and the exit code is 2, with a summary.
    /// The same corpus trains the same tokenizer.json, byte for byte, in every process (each
    /// process iterates Swift's dictionaries in its own order).
    func testTokenizerTrainingIsReproducibleAcrossProcesses() throws {
        let corpus = try writeCorpus(bad: 0)
        var files: [Data] = []
        for run in 0..<3 {
            let output = dir.appendingPathComponent("tokenizer-\(run).json").path
            let trained = try AtelierProcess.run(["tokenizer", "train", corpus, "--vocab-size", "600", "--alpha", "0.3", "--output", output])
            XCTAssertEqual(trained.status, 0, trained.stderr)
            files.append(try Data(contentsOf: URL(fileURLWithPath: output)))
        }
        XCTAssertEqual(files[1], files[0])
        XCTAssertEqual(files[2], files[0])
    }

    /// Bad lines are numbered in the whole file whichever rank reads them (rank 1 starts halfway).
    func testBadLinesAreNumberedInTheWholeFileOnEveryRank() throws {
        let corpus = try writeCorpus(bad: 1)
        var lines = try String(contentsOfFile: corpus, encoding: .utf8).split(separator: "\n").map(String.init)
        lines.insert("{\"txt\": 1}", at: 170)
        try (lines.joined(separator: "\n") + "\n").write(toFile: corpus, atomically: true, encoding: .utf8)
        let tokenizer = dir.appendingPathComponent("tokenizer.json").path
        XCTAssertEqual(try AtelierProcess.run(["tokenizer", "train", corpus, "--vocab-size", "300", "--output", tokenizer]).status, 0)
        for ranks in [nil, 2] {
            let prefix = dir.appendingPathComponent("out\(ranks ?? 1)/c").path
            let r = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", tokenizer, "--output-prefix", prefix, "--max-bad-fraction", "0.05"], ranks: ranks)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("corpus.jsonl:6: not a JSON object"), r.stderr)
            XCTAssertTrue(r.stderr.contains("corpus.jsonl:171: no string field \"text\""), r.stderr)
            XCTAssertTrue(r.stdout.contains("180 documents"), r.stdout)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: (prefix as NSString).deletingLastPathComponent)
            XCTAssertEqual(leftovers.sorted(), ["c_text_document.bin", "c_text_document.idx"])
        }
    }

    /// A dataset tokenized for another vocabulary: token 100 has id 60000 for a model of 448.
    /// Training stops with exit 2 naming the file, the token and the id (it used to train to the
    /// end, reading outside the embedding table).
    func testTrainRefusesATokenOutsideTheVocabulary() throws {
        let tokenizer = dir.appendingPathComponent("tokenizer.json").path
        XCTAssertEqual(try AtelierProcess.run(["tokenizer", "train", try writeCorpus(), "--vocab-size", "400", "--output", tokenizer]).status, 0)
        let prefix = dir.appendingPathComponent("foreign").path
        var tokens = (0..<300).map { UInt16($0 * 7 % 400) }
        tokens[100] = 60000
        try writeDataset(prefix, documents: 10, tokens: tokens)
        let job = try writeJob("foreign", tokenizer: tokenizer, prefix: prefix, datasets: [("foreign", prefix)])
        for ranks in [nil, 2] {
            let r = try AtelierProcess.run(["train", job], ranks: ranks)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("foreign.bin: token 100 (in sequence 3) has id 60000, outside the model's vocabulary of 448"), r.stderr)
        }
    }

    /// PREFIX.bin/.idx by hand: uint16 `tokens` cut into `documents` equal documents.
    func writeDataset(_ prefix: String, documents: Int, tokens: [UInt16]) throws {
        var idx = Data("MMIDIDX".utf8) + Data([0, 0])
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { idx.append(contentsOf: $0) } }
        let length = tokens.count / documents
        append(UInt64(1)); append(UInt8(8)); append(UInt64(documents)); append(UInt64(documents + 1))
        for _ in 0..<documents { append(Int32(length)) }
        for d in 0..<documents { append(Int64(2 * d * length)) }
        for d in 0...documents { append(Int64(d)) }
        try idx.write(to: URL(fileURLWithPath: prefix + ".idx"))
        try Data(tokens.prefix(documents * length).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }).write(to: URL(fileURLWithPath: prefix + ".bin"))
    }

    func testPreprocessRefusesTooManyBadLines() throws {
        let corpus = try writeCorpus(bad: 6)
        let tokenizer = dir.appendingPathComponent("tokenizer.json").path
        XCTAssertEqual(try AtelierProcess.run(["tokenizer", "train", corpus, "--vocab-size", "300", "--output", tokenizer]).status, 0)
        let prefix = dir.appendingPathComponent("out/c").path
        let r = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", tokenizer, "--output-prefix", prefix, "--max-bad-fraction", "0.01"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("6 of 186 lines are bad") && r.stderr.contains("nothing written"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: prefix + "_text_document.bin"))
        let missing = try AtelierProcess.run(["preprocess", dir.appendingPathComponent("none.jsonl").path, "--tokenizer", tokenizer])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("none.jsonl"), missing.stderr)
        // a tokenizer that is not there is bad input too (exit 2), not a failure
        let noTokenizer = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", dir.appendingPathComponent("none.json").path])
        XCTAssertEqual(noTokenizer.status, 2, noTokenizer.stderr)
        XCTAssertTrue(noTokenizer.stderr.contains("none.json"), noTokenizer.stderr)
    }

    /// A full disk while preprocessing is a failure (exit 1) named as a write, not "cannot read
    /// training data", and leaves nothing behind.
    func testPreprocessOnAFullDiskIsAFailure() throws {
        try XCTSkipUnless(getuid() == 0, "mounting a small tmpfs needs root")
        let corpus = try writeCorpus()
        let tokenizer = dir.appendingPathComponent("tokenizer.json").path
        XCTAssertEqual(try AtelierProcess.run(["tokenizer", "train", corpus, "--vocab-size", "400", "--output", tokenizer]).status, 0)
        let full = dir.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
        let mount = try AtelierProcess.command(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", full.path])
        try XCTSkipUnless(mount.status == 0, "cannot mount a tmpfs here: \(mount.stderr)")
        defer { _ = try? AtelierProcess.command(["umount", "-l", full.path]) }
        for ranks in [nil, 2] {
            let r = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", tokenizer, "--output-prefix", full.appendingPathComponent("c").path], ranks: ranks)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("cannot be written: No space left on device") && !r.stderr.contains("cannot read"), r.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: full.path), [])
        }
    }
}

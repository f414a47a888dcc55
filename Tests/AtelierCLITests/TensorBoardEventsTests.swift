import Foundation
import XCTest

/// RUN_DIR/tensorboard/ read back by TensorBoard's own EventAccumulator (the `tensorboard` package
/// from PyPI: ATELIER_TEST_PYTHON, else python3; .ci/run installs it): every scalar at every step
/// is the float32 of what metrics.jsonl holds, each step once, across a launch killed after its
/// checkpoint and the launch that resumes it.
final class TensorBoardEventsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "trains real jobs; run with swift test -c release")
        dir = try temporaryDirectory("tensorboard")
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    static func python() throws -> String {
        let python = ProcessInfo.processInfo.environment["ATELIER_TEST_PYTHON"] ?? "python3"
        let probe = try AtelierProcess.command([python, "-c", "import tensorboard"])
        try XCTSkipUnless(probe.status == 0, "\(python) lacks the tensorboard package (.ci/run installs it); set ATELIER_TEST_PYTHON to a Python that has it")
        return python
    }

    /// Compares metrics.jsonl (argv[1]) with the scalars EventAccumulator reads from a directory
    /// (argv[2]): the same tags, and for each the same steps in the same order with float32-equal
    /// values. Also checks that each events file's records fill it (no torn end left). Prints JSON.
    static let compare = #"""
    import json, os, struct, sys
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    metrics, logdir = sys.argv[1], sys.argv[2]
    f32 = lambda x: struct.pack("<f", float(x))   # "nan", "inf" as metrics.jsonl writes them
    expected, problems = {}, []
    def put(tag, step, value):
        steps = expected.setdefault(tag, {})
        if step in steps: problems.append("metrics.jsonl has %s at %d twice" % (tag, step))
        steps[step] = f32(value)
    for line in open(metrics):
        r = json.loads(line)
        i = r["iteration"]
        if "validation" in r:
            for lang, v in r["validation"].items():
                for key in ("loss", "bits_per_byte"): put("validation/%s/%s" % (key, lang), i, v[key])
        elif "accounting" in r:
            for key, value in r["accounting"].items(): put("accounting/" + key, i, value)
        else:
            for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu"): put("train/" + key, i, r[key])
    accumulator = EventAccumulator(logdir, size_guidance={"scalars": 0})
    accumulator.Reload()
    got = {tag: [(e.step, f32(e.value)) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
    for tag in sorted(set(expected) | set(got)):
        want = sorted(expected.get(tag, {}).items())
        if got.get(tag) != want:
            show = lambda pairs: [(s, struct.unpack("<f", b)[0]) for s, b in pairs]
            problems.append("%s: metrics.jsonl %s, events %s" % (tag, show(want), show(got.get(tag, []))))
    files = sorted(n for n in os.listdir(logdir) if "tfevents" in n)
    for name in files:
        path = os.path.join(logdir, name)
        framed = sum(len(record) + 16 for record in RawEventFileLoader(path).Load())
        if framed != os.path.getsize(path): problems.append("%s: records fill %d of %d bytes" % (name, framed, os.path.getsize(path)))
    print(json.dumps({"tags": sorted(got), "values": sum(len(v) for v in got.values()), "files": len(files),
                      "loss_steps": [s for s, _ in got.get("train/loss", [])], "problems": problems}))
    """#

    func compare(python: String, metrics: URL, events: URL) throws -> [String: Any] {
        let r = try AtelierProcess.command([python, "-c", Self.compare, metrics.path, events.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
    }

    /// Two languages' indexed datasets and their tokenizer, for a job that validates per language.
    func prepareData() throws -> (tokenizer: String, prefix: String) {
        let texts = ["en": "The manual page describes the command and every option it takes",
                     "fr": "La page de manuel décrit la commande et chacune de ses options"]
        var lines: [String] = []
        for i in 0..<60 {
            for (lang, text) in texts.sorted(by: { $0.key < $1.key }) {
                let object = ["text": String(repeating: "\(text) \(i * 7 % 13). ", count: 1 + i % 4), "lang": lang]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
        }
        let corpus = dir.appendingPathComponent("corpus.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: corpus, atomically: true, encoding: .utf8)
        let tokenizer = dir.appendingPathComponent("tokenizer.json").path
        let trained = try AtelierProcess.run(["tokenizer", "train", corpus, "--vocab-size", "300", "--output", tokenizer])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let prefix = dir.appendingPathComponent("data/c").path
        let split = try AtelierProcess.run(["preprocess", corpus, "--tokenizer", tokenizer, "--output-prefix", prefix, "--by-language"])
        XCTAssertEqual(split.status, 0, split.stderr)
        return (tokenizer, prefix)
    }

    func writeJob(tokenizer: String, prefix: String) throws -> String {
        let profile = try writeTestProfile(in: dir)
        let job = """
        name = "curves"
        working_group = "tests"
        seed = 3
        run_dir = "\(dir.appendingPathComponent("runs/curves").path)"
        [model]
        vocab_size = 320
        hidden_size = 32
        layers = 2
        heads = 4
        seq_length = 32
        [data]
        kind = "indexed"
        tokenizer = "\(tokenizer)"
        validation_fraction = 0.1
        [data.datasets.en]
        prefix = "\(prefix)_en_text_document"
        [data.datasets.fr]
        prefix = "\(prefix)_fr_text_document"
        [batch]
        micro_batch_size = 2
        global_batch_size = 8
        [optimizer]
        lr = 3e-3
        [schedule]
        warmup_samples = 16
        decay_samples = 160
        [train]
        iterations = 20
        log_interval = 1
        eval_interval = 5
        eval_samples = 2
        [checkpoint]
        interval_iterations = 10
        [accounting]
        cluster_profile = "\(profile)"
        interval_seconds = 0.000001   # an interval closes at every iteration
        """
        let path = dir.appendingPathComponent("curves.toml").path
        try job.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A 2-rank launch checkpoints at 10, logs and validates on to 15 and is killed at 16 (rank 0,
    /// SIGKILL), its events file then cut mid-record as a kill during a write leaves it; the rerun
    /// resumes at 10 and finishes 20. EventAccumulator reads exactly metrics.jsonl: loss, lr, grad
    /// norm, tokens/s, MFU at 1...20, validation per language at 5, 10, 15, 20, cumulative kWh and
    /// kgCO2eq at every iteration (an interval closes at each), each step once.
    /// A TensorBoard that read the first launch's file before the resume trimmed it drops the
    /// orphaned steps itself (SessionLog START): the untrimmed file next to the rerun's reads the same.
    func testEventAccumulatorReadsMetricsAcrossAResume() throws {
        let python = try Self.python()
        let (tokenizer, prefix) = try prepareData()
        let job = try writeJob(tokenizer: tokenizer, prefix: prefix)
        let run = dir.appendingPathComponent("runs/curves")
        let events = run.appendingPathComponent("tensorboard")

        let killed = try AtelierProcess.run(["train", job], ranks: 2, environment: ["ATELIER_FAULT": "forward@16:0"])
        XCTAssertNotEqual(killed.status, 0, killed.stdout)
        let firstLaunch = try FileManager.default.contentsOfDirectory(atPath: events.path)
        XCTAssertEqual(firstLaunch.count, 1, "rank 0 alone writes, one file per launch: \(firstLaunch)")
        let firstFile = events.appendingPathComponent(firstLaunch[0])
        let before = try compare(python: python, metrics: run.appendingPathComponent("metrics.jsonl"), events: events)
        XCTAssertEqual(before["problems"] as? [String], [], "the killed launch's curves are all on disk")
        XCTAssertEqual(before["loss_steps"] as? [Int], Array(1...15))
        // half a record more, as a kill in the middle of a write leaves it
        let handle = try FileHandle(forWritingTo: firstFile)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x2A, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x22]))
        try handle.close()
        let live = dir.appendingPathComponent("live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: firstFile, to: live.appendingPathComponent(firstLaunch[0]))

        let resumed = try AtelierProcess.run(["train", job], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("at iteration 10,"), resumed.stdout)
        XCTAssertTrue(resumed.stderr.contains("dropped a damaged end at byte"), resumed.stderr)
        // after 10: train 11-15 and accounting 11-15 (5 events each) and the validation at 15
        XCTAssertTrue(resumed.stdout.contains("tensorboard: dropped 11 events after iteration 10 from \(firstLaunch[0])"), resumed.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: events.path).sorted()
        XCTAssertEqual(files.count, 2)
        XCTAssertEqual(files.first, firstLaunch[0], "the earlier launch's file sorts first")

        let metrics = try readMetrics(run.appendingPathComponent("metrics.jsonl"), accounting: true)
        XCTAssertEqual(metrics.filter { $0["loss"] != nil }.map { $0["iteration"] as! Int }, Array(1...20))
        XCTAssertEqual(metrics.filter { $0["validation"] != nil }.map { $0["iteration"] as! Int }, [5, 10, 15, 20])
        XCTAssertEqual(metrics.filter { $0["accounting"] != nil }.map { $0["iteration"] as! Int }, Array(1...20))
        let kWh = metrics.compactMap { ($0["accounting"] as? [String: Double])?["energy_kwh"] }
        XCTAssertGreaterThan(kWh.last!, kWh.first!, "cumulative energy grows")

        let after = try compare(python: python, metrics: run.appendingPathComponent("metrics.jsonl"), events: events)
        XCTAssertEqual(after["problems"] as? [String], [])
        XCTAssertEqual(after["loss_steps"] as? [Int], Array(1...20))
        XCTAssertEqual(after["tags"] as? [String], ["accounting/embodied_kg", "accounting/emissions_kg", "accounting/energy_kwh",
                                                   "train/grad_norm", "train/loss", "train/lr", "train/mfu", "train/tokens_per_s",
                                                   "validation/bits_per_byte/en", "validation/bits_per_byte/fr",
                                                   "validation/loss/en", "validation/loss/fr"])
        XCTAssertEqual(after["values"] as? Int, 5 * 20 + 4 * 4 + 3 * 20)

        try FileManager.default.copyItem(at: events.appendingPathComponent(files[1]), to: live.appendingPathComponent(files[1]))
        let purged = try compare(python: python, metrics: run.appendingPathComponent("metrics.jsonl"), events: live)
        XCTAssertEqual((purged["problems"] as? [String])?.filter { !$0.contains("records fill") }, [], "TensorBoard's own purge")
        XCTAssertEqual(purged["values"] as? Int, 5 * 20 + 4 * 4 + 3 * 20)
    }
}

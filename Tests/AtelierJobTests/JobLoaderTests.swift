import AtelierCore
import AtelierJob
import XCTest

final class JobLoaderTests: XCTestCase {
    static let minimal = """
    name = "tiny"
    working_group = "tokenization"
    [model]
    vocab_size = 320
    hidden_size = 64
    layers = 2
    heads = 4
    seq_length = 32
    [data]
    paths = ["a.txt"]
    [batch]
    micro_batch_size = 2
    global_batch_size = 8
    [optimizer]
    lr = 1e-3
    [train]
    iterations = 100
    """

    func parse(_ text: String = minimal, _ overrides: [String] = []) throws -> Job {
        try Job.parse(text: text, file: "job.toml", overrides: overrides)
    }

    func error(_ text: String = minimal, _ overrides: [String] = []) -> JobError? {
        do { _ = try parse(text, overrides); return nil } catch { return error as? JobError }
    }

    func testMinimalJobGetsDocumentedDefaults() throws {
        let job = try parse()
        XCTAssertEqual(job.name, "tiny")
        XCTAssertEqual(job.runDirectory, "runs/tiny")
        XCTAssertEqual(job.model.initStd, (1.0 / 192).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(job.optimizer.beta1, 0.9)
        XCTAssertEqual(job.optimizer.beta2, 0.95)
        XCTAssertEqual(job.optimizer.eps, 1e-8)
        XCTAssertEqual(job.optimizer.weightDecay, 0.1)
        XCTAssertEqual(job.optimizer.clipGrad, 1.0)
        XCTAssertEqual(job.optimizer.minLR, 1e-4, accuracy: 1e-12)
        XCTAssertEqual(job.schedule.decaySamples, 800)
        XCTAssertEqual(job.schedule.warmupSamples, 8)
        XCTAssertEqual(job.train.logInterval, 10)
        XCTAssertEqual(job.data.kind, .bytes)
        XCTAssertEqual(try job.batch.accumulationSteps(worldSize: 2, file: "job.toml"), 2)
    }

    func testShippedJobFilesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let job = try Job.load(path: root.appendingPathComponent("jobs/quickstart/quickstart.toml").path)
        XCTAssertEqual(job.name, "quickstart")
        XCTAssertEqual(try job.batch.accumulationSteps(worldSize: 2, file: job.sourcePath), 1)
        XCTAssertEqual(job.data.kind, .indexed)
        XCTAssertEqual(job.data.datasets.count, 15)
        XCTAssertEqual(job.data.alpha, 0.5)
        XCTAssertEqual(job.train.evalInterval, 650)
        let bytes = try Job.load(path: root.appendingPathComponent("jobs/architecture-and-scaling/bytes-baseline.toml").path)
        XCTAssertEqual(bytes.data.kind, .bytes)
        XCTAssertEqual(bytes.train.evalInterval, 0)
        let adapt = try Job.load(path: root.appendingPathComponent("jobs/multilinguality/bloom-560m-adapt.toml").path)
        XCTAssertEqual([adapt.model.vocabSize, adapt.model.hiddenSize, adapt.model.layers, adapt.model.heads], [250_880, 1024, 24, 16])
        XCTAssertEqual(adapt.initFrom, "models/bloom-560m")
        XCTAssertEqual(adapt.data.tokenizer, "models/bloom-560m/tokenizer.json")
        XCTAssertEqual(adapt.workingGroup, "multilinguality")
    }

    func testIndexedDataFields() throws {
        func job(_ data: String, datasets: Bool = true) -> String {
            Self.minimal.replacingOccurrences(of: "[data]\npaths = [\"a.txt\"]", with: "[data]\nkind = \"indexed\"\n" + data
                + (datasets ? "\n[data.datasets.fr]\nprefix = \"data/fr\"\n[data.datasets.de]\nprefix = \"data/de\"" : ""))
        }
        let ok = try parse(job("tokenizer = \"t.json\"\nalpha = 0.3"))
        XCTAssertEqual(ok.data.datasets, [DatasetEntry(name: "de", prefix: "data/de", weight: nil), DatasetEntry(name: "fr", prefix: "data/fr", weight: nil)])
        XCTAssertEqual(ok.data.validationFraction, 0.05)
        XCTAssertEqual(ok.train.evalInterval, 20)   // iterations / 5 by default for indexed data
        XCTAssertEqual(error(job("")), .missing(file: "job.toml", field: "data.tokenizer", expected: "a string"))
        XCTAssertEqual(error(job("tokenizer = \"t.json\"\nvalidation_fraction = 0.7"))?.description.contains("data.validation_fraction"), true)
        XCTAssertEqual(error(job("tokenizer = \"t.json\"\nalpha = 0")), .invalid(file: "job.toml", field: "data.alpha", expected: "a number > 0.0", found: "0.0"))
        XCTAssertEqual(error(job("tokenizer = \"t.json\"", datasets: false)),
                       .missing(file: "job.toml", field: "data.datasets", expected: "one table per dataset: [data.datasets.NAME] prefix = \"...\""))
        XCTAssertEqual(error(job("tokenizer = \"t.json\"\n[data.datasets.it]\nweight = 1")),
                       .missing(file: "job.toml", field: "data.datasets.it.prefix", expected: "a string"))
    }

    func testUnknownKeyIsNamedWithSuggestion() {
        let e = error(Self.minimal.replacingOccurrences(of: "layers = 2", with: "layers = 2\nlayer = 3"))
        XCTAssertEqual(e, .unknownKey(file: "job.toml", field: "model.layer", suggestion: "model.layers", reference: "docs/job-files.md"))
        XCTAssertTrue(e!.description.contains("unknown field 'model.layer'"))
        let section = error(Self.minimal + "\n[modle]\nx = 1\n")
        XCTAssertEqual(section, .unknownKey(file: "job.toml", field: "modle", suggestion: "model", reference: "docs/job-files.md"))
        // a job file whose path says "cluster" still cites the job-file reference (it used to cite
        // docs/accounting.md, chosen by the path)
        XCTAssertThrowsError(try Job.parse(text: Self.minimal + "\n[modle]\nx = 1\n", file: "cluster/jobs/run.toml")) {
            XCTAssertTrue("\($0)".contains("see docs/job-files.md"), "\($0)")
        }
    }

    /// A ledger URL with a password is refused (from the file and from --set), and the error does
    /// not repeat the password; one without is kept as written.
    func testLedgerURLWithAPasswordIsRefused() throws {
        let url = "postgresql://atelier:hunter2-pw@db:5432/site"
        for e in [error(Self.minimal + "\n[accounting]\nledger = \"\(url)\"\n"), error(Self.minimal, ["accounting.ledger=\(url)"])] {
            guard case .invalid(_, let field, let expected, let found)? = e else { return XCTFail("\(String(describing: e))") }
            XCTAssertEqual(field, "accounting.ledger")
            XCTAssertTrue(expected.contains("PGPASSWORD or ~/.pgpass"), expected)
            XCTAssertFalse("\(e!)".contains("hunter2-pw"), "\(e!)")
            XCTAssertEqual(found, "a URL with a password")
        }
        XCTAssertEqual(try parse(Self.minimal, ["accounting.ledger=postgresql://atelier@db:5432/site"]).accounting.ledger,
                       "postgresql://atelier@db:5432/site")
    }

    func testWrongTypeNamesExpectedAndFound() {
        let e = error(Self.minimal.replacingOccurrences(of: "hidden_size = 64", with: "hidden_size = \"64\""))
        XCTAssertEqual(e, .wrongType(file: "job.toml", field: "model.hidden_size", expected: "an integer", found: "the string \"64\""))
    }

    func testMissingField() {
        let e = error(Self.minimal.replacingOccurrences(of: "lr = 1e-3", with: ""))
        XCTAssertEqual(e, .missing(file: "job.toml", field: "optimizer.lr", expected: "a number"))
    }

    func testImpossibleBatchSplits() throws {
        let e = error(Self.minimal.replacingOccurrences(of: "global_batch_size = 8", with: "global_batch_size = 7"))
        XCTAssertEqual(e, .invalid(file: "job.toml", field: "batch.global_batch_size",
                                   expected: "a multiple of batch.micro_batch_size (2)", found: "7"))
        let job = try parse()
        XCTAssertThrowsError(try job.batch.accumulationSteps(worldSize: 3, file: "job.toml")) { error in
            XCTAssertTrue("\(error)".contains("micro_batch_size x ranks = 2 x 3 = 6"), "\(error)")
        }
    }

    func testInvalidValues() {
        XCTAssertEqual(error(Self.minimal.replacingOccurrences(of: "heads = 4", with: "heads = 5")),
                       .invalid(file: "job.toml", field: "model.heads", expected: "a divisor of model.hidden_size (64)", found: "5"))
        XCTAssertEqual(error(Self.minimal.replacingOccurrences(of: "vocab_size = 320", with: "vocab_size = 100")),
                       .invalid(file: "job.toml", field: "model.vocab_size",
                                expected: ">= 260 for byte-level data (256 bytes + specials)", found: "100"))
        XCTAssertEqual(error(Self.minimal, ["optimizer.beta2=1.5"]),
                       .invalid(file: "job.toml", field: "optimizer.beta2", expected: "a number < 1.0", found: "1.5"))
        XCTAssertEqual(error(Self.minimal, ["train.tokens=1000"]),
                       .invalid(file: "job.toml", field: "train.tokens", expected: "either train.iterations or train.tokens, not both", found: "both"))
        XCTAssertEqual(error(Self.minimal, ["train.recompute=\"layers\""]),
                       .invalid(file: "job.toml", field: "train.recompute", expected: "\"none\", \"attention\" or \"blocks\"", found: "\"layers\""))
        XCTAssertEqual(try parse(Self.minimal, ["train.recompute=\"blocks\""]).train.recompute, .blocks)
        XCTAssertEqual(try parse().train.recompute, Recompute.none)
    }

    /// Every field that sizes a buffer or a time span has a range; values outside it (huge, negative,
    /// not finite) are refused naming the field, before anything multiplies them.
    func testSizingFieldsHaveLimits() {
        let cases: [(String, String, String)] = [
            ("model.hidden_size=3000000", "model.hidden_size", "an integer <= 131072"),
            ("model.vocab_size=100000000", "model.vocab_size", "an integer <= 16777216"),
            ("model.layers=1000000000", "model.layers", "an integer <= 4096"),
            ("model.seq_length=2000000", "model.seq_length", "an integer <= 1048576"),
            ("batch.micro_batch_size=100000", "batch.micro_batch_size", "an integer <= 65536"),
            ("batch.global_batch_size=100000000", "batch.global_batch_size", "an integer <= 16777216"),
            ("distributed.bucket_mb=1e300", "distributed.bucket_mb", "a number <= 1024.0"),
            ("distributed.bucket_mb=-1", "distributed.bucket_mb", "a number > 0.0"),
            ("distributed.bucket_mb=nan", "distributed.bucket_mb", "a finite number"),
            ("distributed.bucket_mb=inf", "distributed.bucket_mb", "a finite number"),
            ("distributed.blas_threads=100000", "distributed.blas_threads", "an integer <= 1024"),
            ("distributed.collective_timeout_seconds=1e300", "distributed.collective_timeout_seconds", "a number <= 1000000.0"),
            ("accounting.interval_seconds=1e300", "accounting.interval_seconds", "a number <= 1000000.0"),
            ("checkpoint.interval_minutes=1e300", "checkpoint.interval_minutes", "a number <= 16666.666666666668"),
            ("model.heads=0", "model.heads", "an integer >= 1"),
        ]
        for (assignment, field, expected) in cases {
            guard case .invalid(_, let f, let e, _)? = error(Self.minimal, [assignment]) else {
                XCTFail("\(assignment): expected an invalid-field error, got \(String(describing: error(Self.minimal, [assignment])))"); continue
            }
            XCTAssertEqual(f, field, assignment)
            XCTAssertEqual(e, expected, assignment)
        }
        // iterations x global batch x sequence must fit in 63 bits: 2^62 iterations of 8 x 32 tokens do not
        guard case .invalid(_, let field, _, let found)? = error(Self.minimal, ["train.iterations=\(1 << 62)"]) else {
            return XCTFail("expected train.iterations to be refused")
        }
        XCTAssertEqual(field, "train.iterations")
        XCTAssertEqual(found, "\(1 << 62)")
        // a token budget is rounded up to whole steps without overflowing near Int.max
        XCTAssertEqual(try parse(Self.minimal.replacingOccurrences(of: "iterations = 100", with: "tokens = \(Int.max)")).train.iterations,
                       Int.max / 256 + 1)
    }

    func testSyntaxErrorGivesLine() {
        guard case .syntax(let file, let line, _, _)? = error("name = \"x\"\n[model\n") else { return XCTFail("expected a syntax error") }
        XCTAssertEqual(file, "job.toml")
        XCTAssertEqual(line, 2)
    }

    func testOverrides() throws {
        let job = try parse(Self.minimal, ["train.iterations=7", "model.init_std=0.02", "run_dir=/tmp/x y", "optimizer.lr=3e-4"])
        XCTAssertEqual(job.train.iterations, 7)
        XCTAssertEqual(job.model.initStd, 0.02)
        XCTAssertEqual(job.runDirectory, "/tmp/x y")
        XCTAssertEqual(job.optimizer.lr, 3e-4)
        XCTAssertEqual(error(Self.minimal, ["train.iteratons=7"]),
                       .unknownKey(file: "job.toml", field: "train.iteratons", suggestion: "train.iterations", reference: "docs/job-files.md"))
        XCTAssertEqual(error(Self.minimal, ["train.iterations"]), .badOverride(assignment: "train.iterations", reason: "there is no '='"))
        XCTAssertEqual(error(Self.minimal, ["train.iterations=ten"]),
                       .wrongType(file: "job.toml", field: "train.iterations", expected: "an integer", found: "the string \"ten\""))
    }

    func testTokenBudgetBecomesIterations() throws {
        let job = try parse(Self.minimal.replacingOccurrences(of: "iterations = 100", with: "tokens = 1000"))
        XCTAssertEqual(job.train.iterations, 4)  // ceil(1000 / (8 * 32))
    }

    func testFingerprintIgnoresLayoutAndComments() throws {
        let reordered = "# comment\nworking_group = \"tokenization\"\n" + Self.minimal.replacingOccurrences(of: "working_group = \"tokenization\"\n", with: "")
        XCTAssertEqual(try parse().fingerprint, try parse(reordered).fingerprint)
        XCTAssertEqual(try parse().canonicalText, try parse(reordered).canonicalText)
        XCTAssertNotEqual(try parse().fingerprint, try parse(Self.minimal, ["seed=5"]).fingerprint)
        // the canonical text is itself a job file that means the same thing
        let again = try parse(try parse().canonicalText)
        XCTAssertEqual(again.fingerprint, try parse().fingerprint)
    }

    func testUnreadableFile() {
        XCTAssertThrowsError(try Job.load(path: "/nonexistent/job.toml")) { error in
            guard case .unreadable(let file, _)? = error as? JobError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "/nonexistent/job.toml")
        }
    }
}

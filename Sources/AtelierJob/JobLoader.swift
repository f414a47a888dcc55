import AtelierCore
import Foundation

extension Job {
    /// Reads a job file, applies `--set key.path=value` overrides, checks every field.
    /// Throws `JobError` naming the field; touches nothing on disk.
    public static func load(path: String, overrides: [String] = []) throws -> Job {
        let text: String
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw JobError.unreadable(file: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw JobError.unreadable(file: path, reason: "it is a directory; name a .toml job file inside it")
        }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw JobError.unreadable(file: path, reason: "it is not valid UTF-8")
            }
            text = decoded
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError.unreadable(file: path, reason: (error as NSError).localizedDescription)
        }
        return try parse(text: text, file: path, overrides: overrides)
    }

    /// Parses job TOML text (see `load`).
    public static func parse(text: String, file: String, overrides: [String] = []) throws -> Job {
        var tree = try JobValue.parse(toml: text, file: file)
        for assignment in overrides { try tree.apply(override: assignment) }
        return try Job(tree: tree, file: file)
    }

    init(tree: JobValue, file: String) throws {
        var r = FieldReader(root: tree, file: file)
        name = try r.string("name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw JobError.invalid(file: file, field: "name", expected: "letters, digits, '-', '_' or '.'", found: "\"\(name)\"")
        }
        workingGroup = try r.string("working_group")
        seed = UInt64(try r.int("seed", default: 1234, min: 0))
        runDirectory = try r.string("run_dir", default: "runs/\(name)")

        let hidden = try r.int("model.hidden_size", min: 1, max: JobLimits.hiddenSize)
        let heads = try r.int("model.heads", min: 1)
        guard hidden % heads == 0 else {
            throw JobError.invalid(file: file, field: "model.heads", expected: "a divisor of model.hidden_size (\(hidden))", found: "\(heads)")
        }
        model = ModelShape(vocabSize: try r.int("model.vocab_size", min: 2, max: JobLimits.vocabSize),
                           hiddenSize: hidden,
                           layers: try r.int("model.layers", min: 1, max: JobLimits.layers),
                           heads: heads,
                           sequenceLength: try r.int("model.seq_length", min: 2, max: JobLimits.sequenceLength),
                           initStd: try r.optionalDouble("model.init_std", above: 0))

        initFrom = try r.optionalString("model.init_from")
        let kindName = try r.string("data.kind", default: "bytes")
        guard let kind = DataSource.Kind(rawValue: kindName) else {
            throw JobError.invalid(file: file, field: "data.kind", expected: "\"bytes\", \"indexed\" or \"random\"", found: "\"\(kindName)\"")
        }
        let paths = kind == .bytes ? try r.stringArray("data.paths") : []
        if kind == .bytes {
            guard !paths.isEmpty else {
                throw JobError.invalid(file: file, field: "data.paths", expected: "at least one text file", found: "an empty array")
            }
            guard model.vocabSize >= DataSource.Kind.bytesMinimumVocabulary else {
                throw JobError.invalid(file: file, field: "model.vocab_size",
                                       expected: ">= \(DataSource.Kind.bytesMinimumVocabulary) for byte-level data (256 bytes + specials)",
                                       found: "\(model.vocabSize)")
            }
        }
        data = DataSource(kind: kind, paths: paths)
        if kind == .indexed {
            data.tokenizer = try r.string("data.tokenizer")
            let names = try r.tableKeys("data.datasets")
            guard !names.isEmpty else {
                throw JobError.missing(file: file, field: "data.datasets", expected: "one table per dataset: [data.datasets.NAME] prefix = \"...\"")
            }
            for name in names {
                _ = try r.tableKeys("data.datasets.\(name)")
                data.datasets.append(DatasetEntry(name: name, prefix: try r.string("data.datasets.\(name).prefix"),
                                                  weight: r.wasSet("data.datasets.\(name).weight")
                                                      ? try r.double("data.datasets.\(name).weight", atLeast: 0) : nil))
            }
            data.alpha = r.wasSet("data.alpha") ? try r.double("data.alpha", above: 0, below: 1.000001) : nil
            data.validationFraction = try r.double("data.validation_fraction", default: 0.05, atLeast: 0, below: 0.5)
        }

        batch = BatchSizes(microBatchSize: try r.int("batch.micro_batch_size", min: 1, max: JobLimits.microBatchSize),
                           globalBatchSize: try r.int("batch.global_batch_size", min: 1, max: JobLimits.globalBatchSize))
        guard batch.globalBatchSize % batch.microBatchSize == 0 else {
            throw JobError.invalid(file: file, field: "batch.global_batch_size",
                                   expected: "a multiple of batch.micro_batch_size (\(batch.microBatchSize))",
                                   found: "\(batch.globalBatchSize)")
        }

        let lr = try r.double("optimizer.lr", above: 0)
        optimizer = OptimizerSettings(
            lr: lr,
            minLR: try r.double("optimizer.min_lr", default: lr / 10, atLeast: 0),
            beta1: try r.double("optimizer.beta1", default: 0.9, atLeast: 0, below: 1),
            beta2: try r.double("optimizer.beta2", default: 0.95, atLeast: 0, below: 1),
            eps: try r.double("optimizer.eps", default: 1e-8, above: 0),
            weightDecay: try r.double("optimizer.weight_decay", default: 0.1, atLeast: 0),
            clipGrad: try r.double("optimizer.clip_grad", default: 1.0, atLeast: 0))
        guard optimizer.minLR <= optimizer.lr else {
            throw JobError.invalid(file: file, field: "optimizer.min_lr", expected: "a number <= optimizer.lr (\(lr))", found: "\(optimizer.minLR)")
        }

        let iterations = try r.optionalInt("train.iterations", min: 1)
        let tokens = try r.optionalInt("train.tokens", min: 1)
        let tokensPerStep = batch.globalBatchSize * model.sequenceLength   // <= 2^24 x 2^20 (JobLimits)
        switch (iterations, tokens) {
        case (let i?, nil):
            // Token and sample counters must not overflow: iterations x global batch x sequence fits in 63 bits.
            guard checkedProduct(i, tokensPerStep) != nil else {
                throw JobError.invalid(file: file, field: "train.iterations",
                                       expected: "at most \(Int.max / tokensPerStep) (x global_batch_size x seq_length tokens must fit in 63 bits)", found: "\(i)")
            }
            train = TrainSettings(iterations: i, logInterval: 1, maxConsecutiveSkips: 1)
        case (nil, let t?): train = TrainSettings(iterations: t / tokensPerStep + (t % tokensPerStep == 0 ? 0 : 1), logInterval: 1, maxConsecutiveSkips: 1)
        case (nil, nil): throw JobError.missing(file: file, field: "train.iterations", expected: "an integer (or train.tokens, a token budget)")
        case (_?, _?): throw JobError.invalid(file: file, field: "train.tokens", expected: "either train.iterations or train.tokens, not both", found: "both")
        }
        train.logInterval = try r.int("train.log_interval", default: 10, min: 1)
        train.maxConsecutiveSkips = try r.int("train.max_consecutive_skips", default: 10, min: 1)
        let recompute = try r.string("train.recompute", default: Recompute.none.rawValue)
        guard let policy = Recompute(rawValue: recompute) else {
            throw JobError.invalid(file: file, field: "train.recompute", expected: "\"none\", \"attention\" or \"blocks\"", found: "\"\(recompute)\"")
        }
        train.recompute = policy
        train.evalInterval = try r.int("train.eval_interval", default: kind == .indexed ? max(1, train.iterations / 5) : 0, min: 0)
        train.evalSamples = try r.int("train.eval_samples", default: 16, min: 1)

        let totalSamples = train.iterations * batch.globalBatchSize
        schedule = ScheduleSettings(
            warmupSamples: try r.int("schedule.warmup_samples", default: totalSamples / 100, min: 0),
            decaySamples: try r.int("schedule.decay_samples", default: totalSamples, min: 1))
        guard schedule.warmupSamples < schedule.decaySamples else {
            throw JobError.invalid(file: file, field: "schedule.warmup_samples",
                                   expected: "fewer than schedule.decay_samples (\(schedule.decaySamples)\(r.wasSet("schedule.decay_samples") ? "" : " = train.iterations x batch.global_batch_size"))",
                                   found: "\(schedule.warmupSamples)")
        }

        distributed = DistributedSettings(bucketMegabytes: try r.optionalDouble("distributed.bucket_mb", above: 0, atMost: JobLimits.bucketMegabytes),
                                          blasThreads: try r.optionalInt("distributed.blas_threads", min: 1, max: JobLimits.blasThreads),
                                          collectiveTimeoutSeconds: try r.double("distributed.collective_timeout_seconds", default: 600, above: 0,
                                                                                 atMost: JobLimits.seconds),
                                          overlap: try r.bool("distributed.overlap", default: true),
                                          zeroStage: try r.int("distributed.zero_stage", default: 1, min: 0, max: 1))
        checkpoint = CheckpointSettings(
            intervalIterations: try r.int("checkpoint.interval_iterations", default: 100, min: 0),
            intervalMinutes: try r.double("checkpoint.interval_minutes", default: 0, atLeast: 0, atMost: JobLimits.seconds / 60),
            keepLast: try r.int("checkpoint.keep_last", default: 3, min: 1),
            keepEvery: try r.int("checkpoint.keep_every", default: 0, min: 0))
        let runsRoot = (runDirectory as NSString).deletingLastPathComponent
        let ledger = try r.string("accounting.ledger", default: (runsRoot.isEmpty ? "." : runsRoot) + "/ledger.sqlite")
        // A job file is copied into the run directory and its text hashed into the ledger: a
        // database password must not be in it (nor shown here).
        if ["postgresql://", "postgres://"].contains(where: { ledger.lowercased().hasPrefix($0) }), URLComponents(string: ledger)?.password != nil {
            throw JobError.invalid(file: file, field: "accounting.ledger",
                                   expected: "a postgresql://user@host:port/database URL without a password (put the password in PGPASSWORD or ~/.pgpass, which libpq reads)",
                                   found: "a URL with a password")
        }
        accounting = AccountingSettings(
            clusterProfile: try r.optionalString("accounting.cluster_profile"),
            ledger: ledger,
            intervalSeconds: try r.double("accounting.interval_seconds", default: 15, above: 0, atMost: JobLimits.seconds))
        try r.rejectUnknownKeys()

        canonicalText = tree.canonicalTOML() + "\n"
        sourcePath = file
    }
}

extension JobValue {
    /// Applies one `key.path=value` override. The value is read as a TOML value (number, boolean,
    /// quoted string, array); anything that is not valid TOML is taken as a bare string.
    mutating func apply(override assignment: String) throws {
        guard let eq = assignment.firstIndex(of: "=") else {
            throw JobError.badOverride(assignment: assignment, reason: "there is no '='")
        }
        let key = assignment[..<eq].trimmingCharacters(in: .whitespaces)
        let raw = assignment[assignment.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !key.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
            throw JobError.badOverride(assignment: assignment, reason: "'\(key)' is not a dotted field name")
        }
        var value: JobValue = .string(raw)
        if let parsed = try? JobValue.parse(toml: "v = \(raw)", file: "--set"), case .table(let t) = parsed, let v = t["v"] {
            value = v
        }
        try set(path: parts, to: value)
    }
}

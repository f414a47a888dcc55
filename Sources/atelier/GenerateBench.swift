import AtelierCore
import AtelierCheckpoint
import AtelierJob
import AtelierModel
import AtelierTrain
import Foundation

/// `atelier bench --generate`: greedy generation on BLOOM-560m's shape (vocab 250,880, hidden 1024,
/// 24 layers, 16 heads, window 2048, fp32) after a random 32-token prompt: the prefill, the time
/// of each new token with the key/value cache, and tokens/s for 64 new tokens, prefill included.
/// The in-run anchor is what generation did before the cache, a full forward over the window for
/// every token, measured at a shorter window (at 2048 its activations alone take about 12 GB).
/// With `python` (a Python with torch and transformers), jobs/architecture-and-scaling/transformers_generate.py first
/// builds the same shape in transformers with random weights, saves them to `directory` and times
/// its generate() on the same prompt (with OMP_WAIT_POLICY=PASSIVE unless set); atelier then loads
/// those weights and measures, transformers is timed once more, and the report gives the speed
/// ratio against its faster run and whether the greedy tokens agree. Without it the weights are BLOOM's random
/// initialisation from `seed`.
struct GenerateBench {
    static let shape = ModelShape(vocabSize: 250_880, hiddenSize: 1024, layers: 24, heads: 16, sequenceLength: 2048)
    /// BLOOM's tokenizer has 250,680 tokens; its embedding is padded to 250,880 rows.
    static let sampleable = 250_680
    static let promptTokens = 32
    static let newTokens = 64

    let threads: Int
    var anchorWindow = 256
    var anchorTokens = 2
    var seed: UInt64 = 1
    var python: String?
    var script = "jobs/architecture-and-scaling/transformers_generate.py"
    var directory = "runs/bench-generate"

    /// What jobs/architecture-and-scaling/transformers_generate.py prints.
    struct TransformersRun: Codable {
        let transformers: String, torch: String, threads: Int
        let prefill_s: Double   // generate() of one token: the prompt's forward pass
        let total_s: Double     // generate() of all new tokens
        let forward_per_token_s: Double   // one cached forward step and argmax, outside generate() (median)
        let tokens: [Int32]
        let top_two_gaps: [Double]   // largest minus second largest logit, per step
        let chosen_logits: [Double]  // the generated token's logit, per step
    }

    struct Comparison: Codable {
        let run: TransformersRun                 // the faster of the two
        let total_s_before_and_after: [Double]   // generate() of all new tokens, before and after atelier's run
        let per_token_s: Double    // (total - prefill) / (new tokens - 1)
        let tokens_per_s: Double
        let atelier_over_transformers: Double   // tokens/s ratio
        let tokens_agree: Int                   // leading greedy tokens that are the same
        let gaps_at_first_difference: [Double]? // top-two logit gaps there: transformers', atelier's
        // Along transformers' tokens (the same context at every step): where atelier's greedy pick is
        // the same, and the largest difference of the chosen token's logit.
        let forced_steps_agree: Int
        let forced_disagreements_top_two_gaps: [Double]   // transformers' gap where they differ
        let forced_max_logit_difference: Double
    }

    struct Report: Codable {
        let shape: String
        let weights: String
        let blas_threads: Int
        let prompt_tokens, new_tokens: Int
        let prefill_s: Double      // median of 3
        let per_token_s: Double    // median over the new tokens: one position's forward pass
        let total_s: Double        // Sampler.continuation of new_tokens, prefill and picks included (median of 2)
        let tokens_per_s: Double   // new_tokens / total_s
        let anchor_window: Int
        let anchor_per_token_s: Double   // median full forward over anchor_window positions
        let anchor_picks_same_first_token: Bool
        let params_mb, cache_and_scratch_mb, peak_rss_mb: Double
        let prompt: [Int32]
        let tokens: [Int32]
        let transformers: Comparison?

        var text: String {
            func f(_ x: Double, _ d: Int = 3) -> String { String(format: "%.\(d)f", x) }
            var lines = [
                "generation on \(shape), fp32, \(blas_threads) BLAS thread(s); weights: \(weights)",
                "prompt of \(prompt_tokens) tokens: prefill \(f(prefill_s)) s; \(new_tokens) greedy tokens: \(f(per_token_s)) s per token (median), "
                    + "\(f(total_s, 2)) s in all with the prefill: \(f(tokens_per_s, 2)) tokens/s",
                "memory: parameters \(f(params_mb, 0)) MB, key/value cache and scratch \(f(cache_and_scratch_mb, 0)) MB; peak RSS \(f(peak_rss_mb, 0)) MB",
                "before the cache (a full forward over the window per token), at a window of \(anchor_window): \(f(anchor_per_token_s)) s per token, "
                    + "\(f(anchor_per_token_s / per_token_s, 1))x the cached token; same first token: \(anchor_picks_same_first_token ? "yes" : "NO")",
            ]
            if let t = transformers {
                lines.append("transformers \(t.run.transformers) (torch \(t.run.torch), \(t.run.threads) threads) generate() on the same weights: prefill "
                             + "\(f(t.run.prefill_s)) s, \(f(t.per_token_s)) s per token (the model's cached forward alone: \(f(t.run.forward_per_token_s)) s), "
                             + "\(f(t.tokens_per_s, 2)) tokens/s (the faster of \(t.total_s_before_and_after.map { f($0, 2) + " s" }.joined(separator: " before and ")) after); atelier / transformers: "
                             + "\(f(t.atelier_over_transformers, 2))x; greedy tokens agree: \(t.tokens_agree) of \(new_tokens)"
                             + (t.gaps_at_first_difference.map { " (at the first difference the top two logits were \(f($0[0], 5)) apart in transformers, \(f($0[1], 5)) in atelier)" } ?? ""))
                lines.append("along transformers' tokens: the same greedy pick at \(t.forced_steps_agree) of \(new_tokens) steps"
                             + (t.forced_disagreements_top_two_gaps.isEmpty ? "" : " (the others at top-two gaps of \(t.forced_disagreements_top_two_gaps.map { f($0, 5) }.joined(separator: ", ")))")
                             + "; the chosen token's logit within \(String(format: "%.1e", t.forced_max_logit_difference))")
            }
            return lines.joined(separator: "\n")
        }
    }

    func measure() throws -> Report {
        let shape = Self.shape
        guard (Self.promptTokens...shape.sequenceLength).contains(anchorWindow) else {
            throw CLIError("--anchor-window \(anchorWindow): expected \(Self.promptTokens) to \(shape.sequenceLength)")
        }
        var draw = SeededRandom(seed: seed, stream: 0x9e4)
        let prompt = (0..<Self.promptTokens).map { _ in Int32(draw.next() % UInt64(Self.sampleable)) }
        let model = BloomModel(shape: shape, gradients: false)
        var runs: [TransformersRun] = []
        defer { if python != nil { try? FileManager.default.removeItem(atPath: directory) } }   // 2.2 GB of weights
        let weights: String
        if let python {
            runs.append(try runTransformers(python: python, prompt: prompt, load: false))
            try HuggingFaceWeights.load(directory: directory, layout: model.layout, into: model.params)
            weights = "transformers' BloomForCausalLM, normal(0, 0.1), torch seed \(seed), saved and loaded as f32 safetensors"
        } else {
            model.layout.initialize(model.params, seed: seed)
            weights = "BLOOM's random initialisation, seed \(seed)"
        }
        let sampler = try Sampler(model: model, temperature: 0, topK: 0, sampleableVocabulary: Self.sampleable)
        _ = sampler.continuation(of: prompt, maxTokens: 2, stop: nil, seed: seed)   // pages the weights in

        // The parts: the prompt's prefill, then one position per new token.
        let context = try GenerationContext(model: model)
        var prefill: [Double] = []
        var logits = context.start(prompt)
        for _ in 0..<3 { prefill.append(seconds { logits = context.start(prompt) }) }
        var perToken: [Double] = [], gaps: [Double] = []
        var rng = SeededRandom(seed: seed)
        for _ in 1..<Self.newTokens {
            let next = Int32(sampler.pick(logits, &rng))
            let top = Sampler.largest(2, of: logits, Self.sampleable)
            gaps.append(Double(logits[top[0]] - logits[top[1]]))
            perToken.append(seconds { logits = context.append(next) })
        }
        // The whole: what `atelier generate` runs.
        var tokens: [Int32] = []
        let total = median((0..<2).map { _ in seconds { tokens = sampler.continuation(of: prompt, maxTokens: Self.newTokens, stop: nil, seed: seed) } })
        let extra = Double(context.bytes)

        // The anchor: one full forward over the window, as the sampler ran for every token before.
        var anchorShape = shape
        anchorShape.sequenceLength = anchorWindow
        let acts = Activations(shape: anchorShape, batch: 1)
        for t in 0..<anchorWindow { acts.tokens[t] = t < prompt.count ? prompt[t] : 0 }
        let last = (prompt.count - 1)..<prompt.count
        var lastLogits: [Float] = []
        let anchor = (0..<anchorTokens).map { _ in seconds { model.forward(acts); lastLogits = model.logits(acts, rows: last) } }
        let anchorFirst = sampler.pick(lastLogits, &rng)

        let tokensPerSecond = Double(Self.newTokens) / total
        // transformers again, after atelier: the machine's load drifts, so it gets the faster of a
        // run before and a run after atelier's.
        if let python { runs.append(try runTransformers(python: python, prompt: prompt, load: true)) }
        let comparison = try runs.min { $0.total_s < $1.total_s }.map { r in
            try compare(r, totals: runs.map(\.total_s), tokens: tokens, gaps: gaps, tokensPerSecond: tokensPerSecond, prompt: prompt,
                    context: context, sampler: sampler)
        }
        return Report(
            shape: "BLOOM-560m's shape (vocab \(shape.vocabSize), hidden \(shape.hiddenSize), \(shape.layers) layers, \(shape.heads) heads, window \(shape.sequenceLength))",
            weights: weights, blas_threads: threads, prompt_tokens: prompt.count, new_tokens: Self.newTokens,
            prefill_s: median(prefill), per_token_s: median(perToken), total_s: total, tokens_per_s: tokensPerSecond,
            anchor_window: anchorWindow, anchor_per_token_s: median(anchor), anchor_picks_same_first_token: anchorFirst == Int(tokens[0]),
            params_mb: Double(model.params.bytes) / 1e6, cache_and_scratch_mb: extra / 1e6, peak_rss_mb: peakRSSBytes() / 1e6,
            prompt: prompt, tokens: tokens, transformers: comparison)
    }

    /// Speed, the free-running greedy tokens, and the greedy pick at each step along transformers'
    /// tokens (teacher-forced: each step checks the model on the same context, so one near-tie does
    /// not decide the rest). `gaps` are atelier's top-two logit gaps in its own run.
    func compare(_ r: TransformersRun, totals: [Double], tokens: [Int32], gaps: [Double], tokensPerSecond: Double, prompt: [Int32],
                 context: GenerationContext, sampler: Sampler) throws -> Comparison {
        // what the script printed is checked before it indexes anything
        guard !r.tokens.isEmpty, r.top_two_gaps.count == r.tokens.count, r.chosen_logits.count == r.tokens.count,
              r.tokens.allSatisfy({ (0..<Self.sampleable).contains(Int($0)) }), r.total_s > 0 else {
            throw CLIError("\(script) printed \(r.tokens.count) tokens with \(r.top_two_gaps.count) gaps and \(r.chosen_logits.count) logits, or ids outside 0..<\(Self.sampleable); is it the script of this atelier?")
        }
        let theirs = Double(Self.newTokens) / r.total_s
        let agree = zip(tokens, r.tokens).prefix { $0 == $1 }.count
        let there = agree < min(gaps.count, r.top_two_gaps.count) ? [r.top_two_gaps[agree], gaps[agree]] : nil
        var forcedAgree = 0, worst = 0.0
        var disagreements: [Double] = []
        var rng = SeededRandom(seed: seed)
        var logits = context.start(prompt)
        for (i, token) in r.tokens.enumerated() {
            if sampler.pick(logits, &rng) == Int(token) { forcedAgree += 1 } else { disagreements.append(r.top_two_gaps[i]) }
            worst = max(worst, abs(Double(logits[Int(token)]) - r.chosen_logits[i]))
            if i + 1 < r.tokens.count { logits = context.append(token) }
        }
        return Comparison(run: r, total_s_before_and_after: totals, per_token_s: (r.total_s - r.prefill_s) / Double(Self.newTokens - 1), tokens_per_s: theirs,
                          atelier_over_transformers: tokensPerSecond / theirs, tokens_agree: agree, gaps_at_first_difference: there,
                          forced_steps_agree: forcedAgree, forced_disagreements_top_two_gaps: disagreements,
                          forced_max_logit_difference: worst)
    }

    /// Runs jobs/architecture-and-scaling/transformers_generate.py: it writes the weights to `directory` (or with `load`
    /// reads them back) and prints its figures.
    func runTransformers(python: String, prompt: [Int32], load: Bool) throws -> TransformersRun {
        let s = Self.shape
        // OpenMP's default busy-waiting made torch about 10x slower per token on a shared 2-core
        // machine (each parallel region waits for a descheduled thread); passive waiting is its
        // best setting there, unless the caller chose one.
        let passive = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] == nil ? ["OMP_WAIT_POLICY": "PASSIVE"] : [:]
        let printed = try runPython(python, [script, "--out", directory, "--threads", "\(threads)", "--seed", "\(seed)",
                                             "--vocab", "\(s.vocabSize)", "--hidden", "\(s.hiddenSize)", "--layers", "\(s.layers)",
                                             "--heads", "\(s.heads)", "--prompt", prompt.map(String.init).joined(separator: ","),
                                             "--new-tokens", "\(Self.newTokens)", "--sampleable", "\(Self.sampleable)"] + (load ? ["--load"] : []),
                                    environment: passive)
        let command = "\(python) \(script)"
        guard let line = printed.split(separator: "\n").last else { throw CLIError("\(command): printed nothing") }
        do {
            return try JSONDecoder().decode(TransformersRun.self, from: Data(line.utf8))
        } catch {
            throw CLIError("\(command): its last line is not the expected JSON object (\(error)): \(line)")
        }
    }

    /// Seconds `body` takes.
    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

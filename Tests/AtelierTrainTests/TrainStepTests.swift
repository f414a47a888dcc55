import AtelierData
import AtelierJob
import AtelierModel
import AtelierTrain
import MPI
import XCTest

/// The training step in this process (an MPI world of one rank).
final class TrainStepTests: XCTestCase {
    static let job = """
    name = "step-test"
    working_group = "tests"
    seed = 3
    [model]
    vocab_size = 64
    hidden_size = 32
    layers = 2
    heads = 4
    seq_length = 16
    [data]
    kind = "random"
    [batch]
    micro_batch_size = 2
    global_batch_size = 4
    [optimizer]
    lr = 3e-3
    [schedule]
    warmup_samples = 8
    [train]
    iterations = 40
    max_consecutive_skips = 3
    """

    func makeStep(_ overrides: [String] = []) throws -> TrainStep {
        let job = try Job.parse(text: Self.job, file: "test", overrides: overrides)
        // A tiny corpus with structure: a repeating pattern the model can learn.
        let source = PatternSource(sequenceLength: job.model.sequenceLength)
        return try TrainStep(job: job, comm: try Communicator.world(), source: source)
    }

    func testLossFallsOnLearnableData() throws {
        let step = try makeStep()
        let first = try step.step()
        var last = first
        for _ in 1..<40 { last = try step.step() }
        XCTAssertEqual(first.loss, log(64), accuracy: 0.5, "starts near uniform over the vocabulary (tied logits have std ~ sqrt(C) sigma)")
        XCTAssertLessThan(last.loss, 0.5 * first.loss)
        XCTAssertEqual(step.progress.consumedSamples, 160)
        XCTAssertEqual(step.progress.skippedIterations, 0)
        XCTAssertTrue(first.gradNorm > 0 && first.gradNorm.isFinite)
    }

    /// The phases cover the step: they add up to its time, the work phases took time, and on one
    /// rank there is nothing to gather; a skipped step has no optimizer or gather time.
    func testStepPhasesAddUpToTheStepTime() throws {
        let step = try makeStep(["batch.global_batch_size=8"])   // 2 micro-batches per step
        let r = try step.step()
        XCTAssertEqual(r.phases.total, r.seconds, accuracy: 1e-9)
        XCTAssertEqual(r.phases.seconds.count, StepPhases.Phase.allCases.count)
        for phase in StepPhases.Phase.allCases { XCTAssertGreaterThanOrEqual(r.phases[phase], 0, phase.rawValue) }
        for phase in [StepPhases.Phase.forward, .loss, .backward, .optimizer] { XCTAssertGreaterThan(r.phases[phase], 0, phase.rawValue) }
        XCTAssertLessThan(r.phases[.parameterGather], r.phases[.optimizer], "one rank: no shards to gather")
        step.model.params[step.model.layout.finalNormWeight] = .nan
        let skipped = try step.step()
        XCTAssertTrue(skipped.skipped)
        XCTAssertEqual(skipped.phases[.optimizer], 0)
        XCTAssertEqual(skipped.phases[.parameterGather], 0)
        XCTAssertEqual(skipped.phases.total, skipped.seconds, accuracy: 1e-9)
    }

    func testNonFiniteStepsAreSkippedThenAbort() throws {
        let step = try makeStep()
        _ = try step.step()
        let before = step.model.params.array
        step.model.params[step.model.layout.finalNormWeight] = .nan
        let skipped = try step.step()
        XCTAssertTrue(skipped.skipped)
        XCTAssertEqual(step.progress.skippedIterations, 1)
        var after = step.model.params.array
        after[step.model.layout.finalNormWeight] = before[step.model.layout.finalNormWeight]
        XCTAssertEqual(after, before, "a skipped step changes no parameter")
        _ = try step.step()
        XCTAssertThrowsError(try step.step()) { error in
            XCTAssertTrue("\(error)".contains("3 consecutive iterations"), "\(error)")
        }
    }

    func testAccumulationMatchesOneLargeMicroBatch() throws {
        let accumulated = try makeStep(["batch.micro_batch_size=1"])
        let single = try makeStep(["batch.micro_batch_size=4"])
        for _ in 0..<5 {
            let a = try accumulated.step(), b = try single.step()
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5 * b.loss)
            XCTAssertEqual(a.gradNorm, b.gradNorm, accuracy: 1e-4 * b.gradNorm)
        }
    }
}

/// Sequences "0 1 2 ... 15" shifted by the sample index: next-token prediction is learnable.
struct PatternSource: TokenSource {
    let sequenceLength: Int
    let sampleCount = 64
    func fill(sample index: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        for i in 0..<sequenceLength {
            inputs[i] = Int32((index + i) % 64)
            targets[i] = Int32((index + i + 1) % 64)
        }
    }
}

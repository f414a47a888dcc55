import AtelierData
import AtelierJob
import AtelierModel
import AtelierTrain
import BLAS
import Foundation
import MPI

/// The benchmark's figures (also its --json object).
struct BenchReport: Codable {
    let shape: String               // bench or bloom-560m
    let sequence_length: Int
    let micro_batch_size: Int
    let recompute: String           // train.recompute
    let world_size: Int
    let blas_threads_per_rank: Int
    let blas_core: String
    let steps: Int
    let step_s_mean: Double
    let step_s_min: Double
    let tokens_per_s: Double
    let tokens_per_s_per_rank: Double
    let model_tflops_per_rank: Double
    let sgemm_peak_gflops_per_rank: Double
    let mfu: Double
    let peak_rss_mb: Double
    let needed_mb: Double
    let rss_over_needed: Double
    let loss: Double
    /// Rank 0's median seconds per step in each phase of `StepPhases` (data, zero_gradients,
    /// forward, loss, backward, gradient_wait, norm, optimizer, parameter_gather).
    let phase_s_median: [String: Double]

    var text: String {
        func f(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }
        return """
        shape: \(shape), sequence \(sequence_length), micro-batch \(micro_batch_size), recompute \(recompute)
        ranks: \(world_size) x \(blas_threads_per_rank) BLAS thread(s), OpenBLAS \(blas_core)
        step time: mean \(f(step_s_mean, 3)) s, min \(f(step_s_min, 3)) s over \(steps) steps
        tokens/s: \(f(tokens_per_s, 0)) (\(f(tokens_per_s_per_rank, 0)) per rank)
        model TFLOP/s per rank: \(f(model_tflops_per_rank, 3)); sgemm peak per rank: \(f(sgemm_peak_gflops_per_rank)) GFLOP/s
        MFU: \(f(100 * mfu))%
        step phases, rank 0, medians: \(StepPhases.Phase.allCases.map { "\($0.rawValue) \(f(phase_s_median[$0.rawValue] ?? 0, 3)) s" }.joined(separator: ", "))
        peak RSS per rank: \(f(peak_rss_mb, 0)) MB; estimated per rank (atelier estimate): \(f(needed_mb, 0)) MB; ratio \(f(rss_over_needed, 2))
        """
    }
}

/// Runs the benchmark job: warm-up and timed steps between two sgemm peak measurements.
struct BenchRun {
    let job: Job
    let comm: Communicator
    let shape: String
    let warmup: Int
    let steps: Int

    func measure() throws -> BenchReport {
        // The sgemm peak, all ranks at once, before and after the timed steps: the best of the two,
        // so a moment of interference from outside cannot pass for the machine's peak.
        try comm.barrier()
        var peak = [SgemmPeak.measure(size: 2048, repeats: 4)]
        let source = RandomTokenSource(vocabSize: job.model.vocabSize, sequenceLength: job.model.sequenceLength, seed: job.seed)
        let step = try TrainStep(job: job, comm: comm, source: source)
        var times: [Double] = []
        var phases: [StepPhases] = []
        var loss = 0.0
        for i in 0..<(warmup + steps) {
            try comm.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try step.step()
            try comm.barrier()
            if i >= warmup {
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                phases.append(r.phases)
            }
            loss = r.loss
        }
        try comm.barrier()
        peak[0] = max(peak[0], SgemmPeak.measure(size: 2048, repeats: 4))
        try comm.allReduceMax(&peak)
        var rss = [peakRSSBytes()]
        try comm.allReduceMax(&rss)
        let mean = times.reduce(0, +) / Double(max(times.count, 1))
        let tokensPerStep = Double(job.batch.globalBatchSize * job.model.sequenceLength)
        let tokensPerSecond = tokensPerStep / mean
        let flopsPerRank = job.model.flopsPerToken * tokensPerSecond / Double(comm.size)
        let needed = Double(try MemoryEstimate(job: job, worldSize: comm.size, blasThreads: BLASRuntime.threads).perRank)
        return BenchReport(
            shape: shape, sequence_length: job.model.sequenceLength, micro_batch_size: job.batch.microBatchSize,
            recompute: job.train.recompute.rawValue, world_size: comm.size, blas_threads_per_rank: BLASRuntime.threads, blas_core: BLASRuntime.coreName,
            steps: times.count, step_s_mean: mean, step_s_min: times.min() ?? 0,
            tokens_per_s: tokensPerSecond, tokens_per_s_per_rank: tokensPerSecond / Double(comm.size),
            model_tflops_per_rank: flopsPerRank / 1e12, sgemm_peak_gflops_per_rank: peak[0] / 1e9,
            mfu: flopsPerRank / peak[0], peak_rss_mb: rss[0] / 1e6, needed_mb: needed / 1e6,
            rss_over_needed: rss[0] / needed, loss: loss,
            phase_s_median: Dictionary(uniqueKeysWithValues: StepPhases.Phase.allCases.map { phase in (phase.rawValue, median(phases.map { $0[phase] })) }))
    }
}

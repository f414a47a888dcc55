import AtelierData
import AtelierDistributed
import AtelierJob
import AtelierTrain
import Foundation
import MPI

/// `atelier bench --overlap`: what overlapping the gradient all-reduce with backward hides. The
/// same step runs in three modes, in rotating order, `rounds` times `steps` steps each:
/// overlapped (the default), all-reduce after backward (nothing hidden), and compute only (no
/// all-reduce). Communication time is after-backward minus compute-only; what overlap leaves
/// exposed is overlapped minus compute-only. Bytes on the wire are each rank's network
/// interfaces' transmitted bytes (/proc/net/dev, loopback excluded) per overlapped step, against
/// a ring all-reduce's ideal of 2(N-1)/N x the gradient bytes.
struct OverlapBench {
    let job: Job
    let comm: Communicator
    let rounds: Int
    let steps: Int

    struct Report: Codable {
        let world_size: Int
        let gradient_bytes: Int
        let buckets: Int
        let rounds: Int
        let steps_per_round: Int
        let step_s_overlapped: Double
        let step_s_after_backward: Double
        let step_s_compute_only: Double
        let communication_s: Double
        let exposed_s: Double
        let hidden_fraction: Double
        let wire_bytes_per_step_per_rank: Double
        let ideal_ring_bytes_per_step_per_rank: Double
        let wire_over_ideal: Double

        var text: String {
            func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }
            return """
            ranks: \(world_size); gradients \(String(format: "%.1f", Double(gradient_bytes) / 1e6)) MB in \(buckets) buckets; \(rounds) rounds x \(steps_per_round) steps per mode (medians)
            step time: overlapped \(ms(step_s_overlapped)), all-reduce after backward \(ms(step_s_after_backward)), compute only \(ms(step_s_compute_only))
            communication \(ms(communication_s)) per step (\(String(format: "%.0f", 100 * communication_s / max(step_s_compute_only, 1e-9)))% of compute); exposed with overlap \(ms(exposed_s)): \(String(format: "%.0f", 100 * hidden_fraction))% hidden
            on the wire: \(String(format: "%.2f", wire_bytes_per_step_per_rank / 1e6)) MB per step per rank; ring ideal 2(N-1)/N x gradients = \(String(format: "%.2f", ideal_ring_bytes_per_step_per_rank / 1e6)) MB (ratio \(String(format: "%.3f", wire_over_ideal)))
            """
        }
    }

    func measure() throws -> Report {
        let source = RandomTokenSource(vocabSize: job.model.vocabSize, sequenceLength: job.model.sequenceLength, seed: job.seed)
        let step = try TrainStep(job: job, comm: comm, source: source)
        guard let buckets = step.buckets else {
            throw JobError.invalid(file: "<bench>", field: "ranks", expected: "at least 2 (run under mpirun -np N)", found: "1")
        }
        let modes: [GradientBuckets.Mode] = [.overlapped, .afterBackward, .skipped]
        var times: [GradientBuckets.Mode: [Double]] = [:]
        var wire: [Double] = []
        for mode in modes {   // warm-up: one step in each mode
            buckets.mode = mode
            _ = try step.step()
        }
        for round in 0..<rounds {
            for k in 0..<modes.count {
                let mode = modes[(k + round) % modes.count]
                buckets.mode = mode
                try comm.barrier()
                let sentBefore = Self.transmittedBytes()
                var total = 0.0
                for _ in 0..<steps {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try step.step()
                    try comm.barrier()
                    total += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                }
                times[mode, default: []].append(total / Double(steps))
                if mode == .overlapped { wire.append(Double(Self.transmittedBytes() - sentBefore) / Double(steps)) }
            }
        }
        buckets.mode = .overlapped
        // Every rank's medians; the slowest rank's figure stands (barriers make them close).
        var figures = [median(times[.overlapped]!), median(times[.afterBackward]!), median(times[.skipped]!), median(wire)]
        try comm.allReduceMax(&figures)
        var meanWire = [median(wire) / Double(comm.size)]
        try comm.allReduceSum(&meanWire)
        let gradientBytes = step.model.layout.count * MemoryLayout<Float>.stride
        let ideal = 2 * Double(comm.size - 1) / Double(comm.size) * Double(gradientBytes)
        let communication = figures[1] - figures[2], exposed = figures[0] - figures[2]
        return Report(world_size: comm.size, gradient_bytes: gradientBytes, buckets: buckets.buckets.count, rounds: rounds,
                      steps_per_round: steps, step_s_overlapped: figures[0], step_s_after_backward: figures[1],
                      step_s_compute_only: figures[2], communication_s: communication, exposed_s: exposed,
                      hidden_fraction: communication > 0 ? 1 - exposed / communication : 0,
                      wire_bytes_per_step_per_rank: meanWire[0], ideal_ring_bytes_per_step_per_rank: ideal,
                      wire_over_ideal: ideal > 0 ? meanWire[0] / ideal : 0)
    }

    /// Bytes this network namespace's interfaces have sent (loopback excluded).
    static func transmittedBytes() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8) else { return 0 }
        var total: UInt64 = 0
        for line in text.split(separator: "\n").dropFirst(2) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) != "lo" else { continue }
            let fields = parts[1].split(separator: " ")
            if fields.count > 8, let tx = UInt64(fields[8]) { total += tx }
        }
        return total
    }
}

import AtelierDistributed
import AtelierJob
import BLAS
import Foundation
import MPI

/// What every command that trains has set up on its rank: MPI, the job, the node, BLAS threads.
struct RankContext {
    let comm: Communicator
    let topology: NodeTopology
    let job: Job
    let blasThreads: Int
    let kernels: String   // the log sentence about OpenBLAS's kernels

    /// Selects OpenBLAS's kernels (possibly re-executing this process), starts MPI, loads the job,
    /// sets BLAS threads, runs `body`, and finalises MPI. Any error ends the process with its exit
    /// code (see `finish(with:comm:)`).
    static func run(loadJob: (Communicator) throws -> Job, body: (RankContext) throws -> ExitStatus) -> Never {
        let kernels = BLASRuntime.configureOpenBLAS()
        var comm: Communicator?
        do {
            let world = try Communicator.world()
            comm = world
            let job = try loadJob(world)
            let topology = try NodeTopology(world: world)
            let threads = job.distributed.blasThreads ?? topology.defaultBLASThreads
            BLASRuntime.setThreads(threads)
            let status = try body(RankContext(comm: world, topology: topology, job: job, blasThreads: threads, kernels: kernels))
            try world.barrier()
            Communicator.finalize()
            exit(status.rawValue)
        } catch {
            finish(with: error, comm: comm)
        }
    }
}

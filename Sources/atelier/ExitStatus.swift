import AtelierAccounting
import AtelierDistributed
import AtelierJob
import AtelierTokenizer
import AtelierTrain
import AtelierCheckpoint
import AtelierData
import AtelierModel
import Foundation
import MPI

/// How `atelier` ends: each kind of failure has its own exit code (documented in --help and docs/cli.md).
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case badInput = 2
    case diverged = 3
    case stoppedOnSignal = 4
    case stalled = 5

    /// The exit code for an error, and whether every rank is known to have hit it too (so the job
    /// can end in order instead of MPI_Abort).
    static func of(_ error: Error) -> (ExitStatus, collective: Bool) {
        switch error {
        case is JobError, is JobChanged, is RankAgreement.Mismatch, is CheckpointError, is HuggingFaceConfig.Mismatch, is SafetensorsFile.FormatError:
            return (.badInput, true)
        case is MemoryShortfall: return (.badInput, true)   // every rank decided alike
        case is TokenizerError, is Preprocess.Failure, is CLIError, is Sampler.VocabularyMismatch: return (.badInput, false)
        case DataError.unwritable: return (.failure, false)
        case is DataError, is AllocationFailed: return (.badInput, false)
        case let e as LineageError: return (e.isBadInput ? .badInput : .failure, false)
        case let e as AccountingError:
            if case .overBudget = e { return (.badInput, true) }   // rank 0 decided for all
            return (.badInput, false)
        case is TrainingError: return (.diverged, true)
        case is CollectiveStall: return (.stalled, false)
        default: return (.failure, false)
        }
    }
}

/// Prints an error, then ends this rank, and the job if other ranks cannot know about it.
func finish(with error: Error, comm: Communicator?) -> Never {
    if let stall = error as? CollectiveStall, let comm { finish(with: stall, comm: comm) }
    let (status, collective) = ExitStatus.of(error)
    let rank = comm?.rank ?? 0
    if !collective || rank == 0 {
        let prefix = (comm?.size ?? 1) > 1 && !collective ? "[rank \(rank)] " : ""
        FileHandle.standardError.write(Data("atelier: error: \(prefix)\(error)\n".utf8))
    }
    if let comm, comm.size > 1, !collective { comm.abort(code: status.rawValue) }
    if comm != nil { Communicator.finalize() }
    exit(status.rawValue)
}

/// A stalled collective: the reporter (the lowest rank still answering) names the ranks that did
/// not arrive and aborts the job; the other ranks give it time to, then abort on their own.
func finish(with stall: CollectiveStall, comm: Communicator) -> Never {
    if comm.rank == stall.reporter {
        FileHandle.standardError.write(Data("atelier: error: [rank \(comm.rank)] \(stall)\n".utf8))
    } else {
        Thread.sleep(forTimeInterval: 15)   // the reporter's MPI_Abort normally ends this process first
        FileHandle.standardError.write(Data("atelier: error: [rank \(comm.rank)] \(stall)\n".utf8))
    }
    comm.abort(code: ExitStatus.stalled.rawValue)
}

/// Prints a line on stdout now (mpirun forwards it as it comes).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

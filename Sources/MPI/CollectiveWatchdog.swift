import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// One rank of the job, as the others can name it in an error.
public struct RankIdentity: Sendable, Equatable, CustomStringConvertible {
    public let rank: Int
    public let host: String
    public let pid: Int
    public var description: String { "rank \(rank) (host \(host), pid \(pid))" }
}

/// A collective that did not complete within the watchdog's timeout, with the ranks that had not
/// arrived at it. Every rank that was waiting throws one; `reporter` (the lowest rank that is
/// still answering) tells the user and ends the job.
public struct CollectiveStall: Error, CustomStringConvertible, Sendable {
    public let operation: String        // what the ranks were doing, e.g. "gradient all-reduce"
    public let sequence: Int            // the collective's number in the job (the same on every rank)
    public let timeoutSeconds: Double
    public let detectedBy: Int
    public let missing: [RankIdentity]  // did not answer: stopped, hung in computation or dead
    public let behind: [(RankIdentity, Int)]   // answered from an earlier collective
    public let reporter: Int

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty {
            parts.append("\(missing.map(\.description).joined(separator: ", ")) did not arrive and did not answer (stopped, hung or dead)")
        }
        if !behind.isEmpty {
            parts.append(behind.map { "\($0.0) is still at collective #\($0.1)" }.joined(separator: ", "))
        }
        if parts.isEmpty {
            parts.append("every rank arrived, but the transport did not complete it (a network partition or a wedged interconnect)")
        }
        return "collective #\(sequence) (\(operation)) did not complete within \(Self.format(timeoutSeconds)) s: "
            + parts.joined(separator: "; ")
            + ". The job is aborted; rerun the same command to resume from the last checkpoint"
            + " (distributed.collective_timeout_seconds sets the limit)"
    }

    static func format(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }
}

/// Watches this rank's collectives, since MPI itself never times out (in the spirit of Horovod's
/// stall inspector). Every collective is issued non-blocking and completed by `complete`, which
/// polls it against a deadline. Past the deadline the rank asks every other rank, on a private
/// duplicate of the communicator, which collective it is waiting in; ranks waiting in a
/// collective answer at once, so the ones that do not answer, or answer from an earlier
/// collective, are the ones holding the job up.
final class CollectiveWatchdog {
    let timeout: Double
    let grace: Double              // how long to collect answers once the deadline has passed
    private let watch: MPI_Comm    // queries and answers only; never used for data
    private let rank: Int
    let identities: [RankIdentity]
    private(set) var sequence = 0  // collectives completed or entered on this rank
    /// Sends in flight, each with the buffer MPI reads from until it completes.
    private var outgoing: [(buffer: UnsafeMutablePointer<Int64>, request: MPI_Request?)] = []

    private static let queryTag: Int32 = 7301, answerTag: Int32 = 7302

    init(comm: MPI_Comm, rank: Int, identities: [RankIdentity], timeout: Double) throws {
        var dup: MPI_Comm? = atelier_mpi_comm_null()
        try check(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup")
        guard let dup else { throw MPIError(call: "MPI_Comm_dup", code: -1, message: "no communicator returned") }
        MPI_Comm_set_errhandler(dup, atelier_mpi_errors_return())
        watch = dup
        self.rank = rank
        self.identities = identities
        self.timeout = timeout
        grace = min(10, max(1, timeout / 10))
    }

    /// Completes `requests` (one collective, possibly issued as several requests), or throws
    /// `CollectiveStall` once `timeout` seconds have passed without completion.
    func complete(_ requests: inout [MPI_Request?], operation: String) throws {
        sequence += 1
        let start = Self.now()
        var polls = 0
        while true {
            if try Self.testAll(&requests) { return }
            answerQueries()
            let waited = Self.now() - start
            if waited >= timeout {
                if let stall = try diagnose(&requests, operation: operation) { throw stall }
                return   // it completed while the ranks were being asked
            }
            polls += 1
            Self.pause(polls: polls, waited: waited)
        }
    }

    /// Asks every other rank where it is; nil if the collective completed meanwhile.
    private func diagnose(_ requests: inout [MPI_Request?], operation: String) throws -> CollectiveStall? {
        let size = identities.count
        for peer in 0..<size where peer != rank { send([Int64(sequence)], to: peer, tag: Self.queryTag) }
        var answers: [Int: Int] = [:]
        let deadline = Self.now() + grace
        var polls = 0
        while answers.count < size - 1 && Self.now() < deadline {
            if try Self.testAll(&requests) { return nil }
            answerQueries()
            while let (peer, values) = receive(tag: Self.answerTag, count: 2) {
                if values[0] == Int64(sequence) { answers[peer] = Int(values[1]) }   // older answers are stale
            }
            polls += 1
            Self.pause(polls: polls, waited: 1)
        }
        let others = (0..<size).filter { $0 != rank }
        let missing = others.filter { answers[$0] == nil }.map { identities[$0] }
        let behind = others.compactMap { peer in answers[peer].flatMap { $0 < sequence ? (identities[peer], $0) : nil } }
        let reporter = ([rank] + Array(answers.keys)).min() ?? rank
        return CollectiveStall(operation: operation, sequence: sequence, timeoutSeconds: timeout, detectedBy: rank,
                               missing: missing, behind: behind, reporter: reporter)
    }

    /// Answers other ranks' queries with the collective this rank is waiting in.
    private func answerQueries() {
        while let (peer, values) = receive(tag: Self.queryTag, count: 1) {
            send([values[0], Int64(sequence)], to: peer, tag: Self.answerTag)
        }
    }

    private func receive(tag: Int32, count: Int) -> (Int, [Int64])? {
        var flag: Int32 = 0
        var status = MPI_Status()
        guard MPI_Iprobe(atelier_mpi_any_source(), tag, watch, &flag, &status) == MPI_SUCCESS, flag != 0 else { return nil }
        let source = atelier_mpi_status_source(&status)
        var values = [Int64](repeating: 0, count: count)
        guard MPI_Recv(&values, Int32(count), atelier_mpi_int64(), source, tag, watch, atelier_mpi_status_ignore()) == MPI_SUCCESS
        else { return nil }
        return (Int(source), values)
    }

    /// A small message that must never block: a peer that has stopped will not receive it. MPI
    /// reads the buffer until the send completes, so the buffer is owned here until then (a Swift
    /// array passed as a pointer lives only for the call).
    private func send(_ values: [Int64], to peer: Int, tag: Int32) {
        reapSends()
        let buffer = UnsafeMutablePointer<Int64>.allocate(capacity: values.count)
        buffer.initialize(from: values, count: values.count)
        var request: MPI_Request? = atelier_mpi_request_null()
        guard MPI_Isend(buffer, Int32(values.count), atelier_mpi_int64(), Int32(peer), tag, watch, &request) == MPI_SUCCESS else {
            buffer.deallocate()
            return
        }
        outgoing.append((buffer, request))
    }

    /// Frees the buffers of the sends that have completed. One to a rank that has stopped may
    /// never complete: its few bytes stay until the process ends.
    private func reapSends() {
        outgoing.removeAll { entry in
            var request = entry.request
            var done: Int32 = 0
            guard MPI_Test(&request, &done, atelier_mpi_status_ignore()) == MPI_SUCCESS, done != 0 else { return false }
            entry.buffer.deallocate()
            return true
        }
    }

    static func testAll(_ requests: inout [MPI_Request?]) throws -> Bool {
        var done: Int32 = 0
        let count = Int32(requests.count)
        try requests.withUnsafeMutableBufferPointer { r in
            try check(MPI_Testall(count, r.baseAddress, &done, atelier_mpi_statuses_ignore()), "MPI_Testall")
        }
        return done != 0
    }

    /// Spins first (as MPI_Wait does, for latency), yields the core after a while, and sleeps
    /// briefly once a wait has lasted a second (a rank waiting for a slow peer).
    static func pause(polls: Int, waited: Double) {
        if polls < 2000 { return }
        if waited < 1 { sched_yield(); return }
        var t = timespec(tv_sec: 0, tv_nsec: 200_000)
        nanosleep(&t, nil)
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

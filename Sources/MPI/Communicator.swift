import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// An error returned by an MPI call, with the call's name and MPI's own message.
public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public let message: String
    public var description: String { "MPI call \(call) failed (code \(code)): \(message)" }
}

@inline(__always)
func check(_ code: Int32, _ call: @autoclosure () -> String) throws {
    guard code == MPI_SUCCESS else {
        var length: Int32 = 0
        var text = [CChar](repeating: 0, count: Int(atelier_mpi_max_error_string()) + 1)
        MPI_Error_string(code, &text, &length)
        throw MPIError(call: call(), code: code, message: String(cString: text))
    }
}

/// One MPI communicator: the world, or the ranks of one node (`splitShared`).
/// All operations are collective unless said otherwise; every rank must call them in the same order.
public final class Communicator: @unchecked Sendable {
    let comm: MPI_Comm
    private var watchdog: CollectiveWatchdog?
    public let rank: Int
    public let size: Int

    init(_ comm: MPI_Comm) throws {
        self.comm = comm
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
        // Errors come back as codes, so the caller can say what failed before exiting.
        MPI_Comm_set_errhandler(comm, atelier_mpi_errors_return())
    }

    /// Initialises MPI (once per process) and returns the world communicator. Works without
    /// mpirun too: a lone process is a world of size 1.
    public static func world() throws -> Communicator {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            retainFreedMemory()
            setTransportDefaults()
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        }
        return try Communicator(atelier_mpi_comm_world())
    }

    /// OpenMPI settings atelier chooses for its gradient traffic, set in the environment before
    /// MPI_Init (where OpenMPI reads them) unless the user set them (`mpirun --mca NAME VALUE`
    /// or `OMPI_MCA_NAME`): theirs win. Measured on 2 netns hosts at 1 Gbit/s (docs/benchmarks.md).
    public static let transportDefaults: [(variable: String, value: String)] = [
        // libnbc picks its binomial MPI_Iallreduce for every in-place call and on fewer than 4
        // ranks: a reduce to rank 0, then a broadcast back, so the buffer crosses each link one
        // way and then the other and rank 0's link carries log2(N) buffers (13.8 MB: 217 ms).
        // Rabenseifner's reduce-scatter + all-gather uses both directions at once, each rank
        // sending 2(N-1)/N of the buffer in 2 log2(N) rounds (13.8 MB: 116 ms, the wire's time).
        ("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3"),
        // ZeRO stage 1 sums each bucket onto its owner with MPI_Ireduce. On 2-4 ranks libnbc cuts
        // a large one into segments passed down a chain, each segment waiting for the next MPI
        // call on both ranks: 11 MB on 2 ranks of one node took 7.7 ms (1.4 GB/s), as with the
        // chain forced. Its binomial tree sends each rank's part whole: 1.5 ms. On the benchmark
        // shape the wait after backward fell from 115 ms a step to 4-16 ms (docs/benchmarks.md).
        ("OMPI_MCA_coll_libnbc_ireduce_algorithm", "2"),
        // A TCP message over the eager limit waits for a hand-shake that the receiver answers
        // only inside an MPI call, which a rank busy in backward makes between operations. Up to
        // 1 MiB (a bucket's share), messages go out at once: overlap hid 70-73% of communication
        // against 65-68% with OpenMPI's 64 KiB.
        ("OMPI_MCA_btl_tcp_eager_limit", "1048576"),
        ("OMPI_MCA_btl_tcp_max_send_size", "1048576"),
    ]

    /// The integer value MPI is using for a control variable (MPI_T; for Open MPI an MCA parameter
    /// such as "btl_tcp_eager_limit"), whatever set it: nil when the library has no such variable.
    /// Call after `world()`, where Open MPI registers its components' parameters.
    public static func controlVariable(_ name: String) throws -> Int? {
        var value: Int64 = 0
        let rc = atelier_mpi_t_cvar_integer(name, &value)
        if rc == MPI_T_ERR_INVALID_NAME || rc == MPI_T_ERR_INVALID_INDEX { return nil }
        if rc == -1 { throw MPIError(call: "MPI_T_cvar_read(\(name))", code: rc, message: "not an integer variable") }
        try check(rc, "MPI_T_cvar_read(\(name))")
        return Int(value)
    }

    static func setTransportDefaults() {
        for (variable, value) in transportDefaults { setenv(variable, value, 0) }
    }

    /// OpenMPI's non-blocking collectives (libnbc) allocate a temporary buffer the size of the
    /// message on every call. glibc serves large allocations with fresh mmap pages, which the kernel
    /// faults in and zeroes each time: measured on the benchmark shape, 2 ranks lost 10% of their
    /// throughput to it. Serving every allocation from the heap and never trimming it lets the
    /// buffers be reused instead (peak RSS grows by the largest bucket, about 50 MB there).
    static func retainFreedMemory() {
        atelier_retain_freed_memory()
    }

    /// Ends MPI for this process. Call once, after the last collective.
    public static func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// Aborts every rank of the job with `code` (MPI_Abort): for errors after which the job cannot go on.
    public func abort(code: Int32) -> Never {
        MPI_Abort(comm, code)
        fatalError("MPI_Abort returned")
    }

    /// The ranks that share this rank's node (MPI_COMM_TYPE_SHARED).
    public func splitShared() throws -> Communicator {
        var local: MPI_Comm? = atelier_mpi_comm_null()
        try check(MPI_Comm_split_type(comm, atelier_mpi_comm_type_shared(), Int32(rank),
                                      atelier_mpi_info_null(), &local), "MPI_Comm_split_type")
        guard let local else { throw MPIError(call: "MPI_Comm_split_type", code: -1, message: "no communicator returned") }
        return try Communicator(local)
    }

    /// The host name MPI knows this rank by.
    public static func processorName() -> String {
        var name = [CChar](repeating: 0, count: Int(atelier_mpi_max_processor_name()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        return String(cString: name)
    }

    /// Watches every later collective on this communicator: one that has not completed within
    /// `timeout` seconds throws `CollectiveStall` naming the ranks that did not arrive.
    /// Collective; call once, on every rank, with the same timeout.
    public func watchCollectives(timeout: Double) throws {
        precondition(timeout > 0 && watchdog == nil)
        let name = Array(Communicator.processorName().utf8.prefix(63)) + [UInt8](repeating: 0, count: 1)
        var mine = [UInt64](repeating: 0, count: 9)
        mine[0] = UInt64(getpid())
        mine.withUnsafeMutableBytes { raw in
            for (i, byte) in name.enumerated() { raw[8 + i] = byte }
        }
        let all = try allGather(mine)
        let identities = (0..<size).map { r -> RankIdentity in
            let record = Array(all[r * 9 ..< r * 9 + 9])
            let host = record.withUnsafeBytes { raw in String(decoding: raw[8...].prefix { $0 != 0 }, as: UTF8.self) }
            return RankIdentity(rank: r, host: host, pid: Int(record[0]))
        }
        watchdog = try CollectiveWatchdog(comm: comm, rank: rank, identities: identities, timeout: timeout)
    }

    /// Completes one collective's requests: through the watchdog if there is one, else MPI_Wait.
    func complete(_ requests: inout [MPI_Request?], _ operation: String) throws {
        if let watchdog {
            try watchdog.complete(&requests, operation: operation)
        } else {
            let count = Int32(requests.count)
            try requests.withUnsafeMutableBufferPointer { r in
                try check(MPI_Waitall(count, r.baseAddress, atelier_mpi_statuses_ignore()), "MPI_Waitall(\(operation))")
            }
        }
    }

    /// Issues one non-blocking collective and completes it.
    func collective(_ operation: String, _ start: (inout MPI_Request?) -> Int32) throws {
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(start(&request), operation)
        var requests = [request]
        try complete(&requests, operation)
    }

    public func barrier() throws {
        try collective("MPI_Ibarrier") { MPI_Ibarrier(comm, &$0) }
    }

    /// In-place sum over all ranks of `count` floats (blocking).
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        var offset = 0
        while offset < count {
            let chunk = min(count - offset, Int(Int32.max))
            try collective("MPI_Iallreduce(float)") {
                MPI_Iallreduce(atelier_mpi_in_place(), buffer + offset, Int32(chunk), atelier_mpi_float(), atelier_mpi_sum(), comm, &$0)
            }
            offset += chunk
        }
    }

    /// In-place sum over all ranks of a small vector of doubles.
    public func allReduceSum(_ values: inout [Double]) throws {
        try allReduce(&values, atelier_mpi_sum(), "MPI_Iallreduce(sum)")
    }

    /// In-place maximum over all ranks of a small vector of doubles.
    public func allReduceMax(_ values: inout [Double]) throws {
        try allReduce(&values, atelier_mpi_max(), "MPI_Iallreduce(max)")
    }

    private func allReduce(_ values: inout [Double], _ op: MPI_Op, _ operation: String) throws {
        let n = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { p in
            try collective(operation) {
                MPI_Iallreduce(atelier_mpi_in_place(), p.baseAddress, n, atelier_mpi_double(), op, comm, &$0)
            }
        }
    }

    /// Every rank's `values` (same count on all ranks), concatenated in rank order.
    public func allGather(_ values: [UInt64]) throws -> [UInt64] {
        var out = [UInt64](repeating: 0, count: values.count * size)
        try values.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { dst in
                try collective("MPI_Iallgather") {
                    MPI_Iallgather(src.baseAddress, Int32(values.count), atelier_mpi_uint64(),
                                   dst.baseAddress, Int32(values.count), atelier_mpi_uint64(), comm, &$0)
                }
            }
        }
        return out
    }

    /// Rank `root`'s bytes on every rank (the buffer's length must agree on all ranks).
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int = 0) throws {
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, 1 << 30)
            try collective("MPI_Ibcast") {
                MPI_Ibcast(buffer.baseAddress! + offset, Int32(chunk), atelier_mpi_byte(), Int32(root), comm, &$0)
            }
            offset += chunk
        }
    }

    /// Rank `root`'s integers on every rank (same count everywhere).
    public func broadcast(_ values: inout [Int64], root: Int = 0) throws {
        try values.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// Starts a non-blocking in-place sum of `count` floats over all ranks (MPI_Iallreduce).
    /// The buffer must stay valid and untouched until the request completes.
    public func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws -> Request {
        precondition(count <= Int(Int32.max), "a non-blocking all-reduce bucket holds at most 2^31-1 floats")
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Iallreduce(atelier_mpi_in_place(), buffer, Int32(count), atelier_mpi_float(),
                                 atelier_mpi_sum(), comm, &request), "MPI_Iallreduce")
        return Request(handle: request)
    }

    /// Starts a non-blocking sum of `count` floats over all ranks onto `root` (MPI_Ireduce): the
    /// root's buffer receives the sum in place, the others' buffers are only read. The buffer must
    /// stay valid and untouched until the request completes.
    public func startReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws -> Request {
        precondition(count <= Int(Int32.max), "a non-blocking reduce holds at most 2^31-1 floats")
        var request: MPI_Request? = atelier_mpi_request_null()
        let mine = rank == root
        let send: UnsafeRawPointer? = mine ? UnsafeRawPointer(atelier_mpi_in_place()) : UnsafeRawPointer(buffer)
        try check(MPI_Ireduce(send, mine ? UnsafeMutableRawPointer(buffer) : nil,
                              Int32(count), atelier_mpi_float(), atelier_mpi_sum(), Int32(root), comm, &request),
                  "MPI_Ireduce(root \(root))")
        return Request(handle: request)
    }

    /// Starts an in-place gather of every rank's part of `buffer` into everyone's (MPI_Iallgatherv
    /// with MPI_IN_PLACE): rank r's `counts[r]` floats at `offsets[r]` are sent, the others'
    /// received. `counts` and `offsets` must stay valid until the request completes.
    public func startAllGatherInPlace(_ buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>,
                                      offsets: UnsafePointer<Int32>) throws -> Request {
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Iallgatherv(atelier_mpi_in_place(), 0, atelier_mpi_float(), buffer, counts, offsets,
                                  atelier_mpi_float(), comm, &request), "MPI_Iallgatherv(in place)")
        return Request(handle: request)
    }

    /// Starts gathering rank r's `count` floats into `into` at `offsets[r]` on `root` (MPI_Igatherv);
    /// `into`, `counts` and `offsets` are read on the root only.
    public func startGather(_ values: UnsafePointer<Float>, count: Int, into: UnsafeMutablePointer<Float>?,
                            counts: UnsafePointer<Int32>, offsets: UnsafePointer<Int32>, root: Int) throws -> Request {
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Igatherv(values, Int32(count), atelier_mpi_float(), into, counts, offsets, atelier_mpi_float(),
                               Int32(root), comm, &request), "MPI_Igatherv")
        return Request(handle: request)
    }

    /// Starts sending `counts[r]` floats at `offsets[r]` of `values` (read on `root` only) to each
    /// rank r, which receives its `count` into `into` (MPI_Iscatterv).
    public func startScatter(_ values: UnsafePointer<Float>?, counts: UnsafePointer<Int32>, offsets: UnsafePointer<Int32>,
                             into: UnsafeMutablePointer<Float>, count: Int, root: Int) throws -> Request {
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Iscatterv(values, counts, offsets, atelier_mpi_float(), into, Int32(count), atelier_mpi_float(),
                                Int32(root), comm, &request), "MPI_Iscatterv")
        return Request(handle: request)
    }

    /// Starts a non-blocking in-place bitwise OR of `count` 64-bit words over all ranks (a union of bit sets).
    public func startAllReduceBitOr(_ words: UnsafeMutablePointer<UInt64>, count: Int) throws -> Request {
        precondition(count <= Int(Int32.max))
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Iallreduce(atelier_mpi_in_place(), words, Int32(count), atelier_mpi_uint64(),
                                 atelier_mpi_bor(), comm, &request), "MPI_Iallreduce(bor)")
        return Request(handle: request)
    }

    /// Starts gathering every rank's `count` 64-bit integers into `into` [size x count], in rank order.
    public func startAllGather(_ values: UnsafePointer<Int64>, count: Int, into: UnsafeMutablePointer<Int64>) throws -> Request {
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Iallgather(values, Int32(count), atelier_mpi_int64(), into, Int32(count), atelier_mpi_int64(),
                                 comm, &request), "MPI_Iallgather")
        return Request(handle: request)
    }

    /// Starts gathering rank r's `counts[r]` elements into `into` at `offsets[r]`, on every rank
    /// (MPI_Iallgatherv); `counts` and `offsets` must stay valid until the request completes.
    public func startAllGather<T: GatherElement>(_ values: UnsafePointer<T>, count: Int, into: UnsafeMutablePointer<T>,
                                                 counts: UnsafePointer<Int32>, offsets: UnsafePointer<Int32>) throws -> Request {
        var request: MPI_Request? = atelier_mpi_request_null()
        try check(MPI_Iallgatherv(values, Int32(count), T.mpiType, into, counts, offsets, T.mpiType, comm, &request),
                  "MPI_Iallgatherv")
        return Request(handle: request)
    }

    /// Completes started requests as one collective (watched like the blocking ones).
    public func waitAll(_ requests: inout [Request], operation: String) throws {
        var handles = requests.map(\.handle)
        try complete(&handles, operation)
        requests.removeAll(keepingCapacity: true)
    }
}

/// Element types `startAllGather` moves.
public protocol GatherElement { static var mpiType: MPI_Datatype { get } }
extension Float: GatherElement { public static var mpiType: MPI_Datatype { atelier_mpi_float() } }
extension Int32: GatherElement { public static var mpiType: MPI_Datatype { atelier_mpi_int32() } }

/// A pending non-blocking operation.
public struct Request {
    var handle: MPI_Request?

    /// Lets MPI make progress; true once the operation has completed.
    public mutating func test() throws -> Bool {
        var done: Int32 = 0
        try check(MPI_Test(&handle, &done, atelier_mpi_status_ignore()), "MPI_Test")
        return done != 0
    }

    /// Blocks until the operation has completed.
    public mutating func wait() throws {
        try check(MPI_Wait(&handle, atelier_mpi_status_ignore()), "MPI_Wait")
    }
}

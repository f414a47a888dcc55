import MPI

/// A start-up check that every rank runs the same thing: the same job (after overrides), the same
/// build of atelier, the same initial weights. A mismatch names the ranks that differ from rank 0.
public struct RankAgreement {
    public struct Mismatch: Error, CustomStringConvertible {
        public let what: String
        public let ranks: [Int]
        public let advice: String
        public var description: String {
            "\(what) differs between rank 0 and rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")); \(advice)"
        }
    }

    /// Gathers `value` from all ranks; throws naming the ranks whose value differs from rank 0's.
    public static func check(_ value: UInt64, what: String, advice: String, comm: Communicator) throws {
        let all = try comm.allGather([value])
        let differing = all.indices.filter { all[$0] != all[0] }
        if !differing.isEmpty { throw Mismatch(what: what, ranks: differing, advice: advice) }
    }
}

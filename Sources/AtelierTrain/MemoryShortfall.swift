import AtelierDistributed

/// A job whose ranks need more memory than their node has available. Every rank refuses alike,
/// with the figures of the node that has the least room. `atelier train` exits with code 2.
public struct MemoryShortfall: Error, CustomStringConvertible {
    public let estimate: MemoryEstimate
    public let ranksOnNode: Int
    public let hostsRankZero: Bool
    public let availableBytes: Int
    public let source: String            // where the available figure comes from

    public var neededOnNode: Int { estimate.node(ranks: ranksOnNode, hostsRankZero: hostsRankZero) }

    public var description: String {
        let f = MemoryEstimate.format
        let rankZero = hostsRankZero && ranksOnNode > 0
            ? " (\(f(estimate.rankZero)) on rank 0, which also saves the checkpoints)" : ""
        let largest = estimate.largest.map { part in
            " The largest part is \(part.name), \(f(part.bytes))" + (part.fields.isEmpty ? "." : ", sized by \(part.fields.joined(separator: ", ")).")
        } ?? ""
        return "the job needs \(f(estimate.perRank)) of memory per rank\(rankZero), x \(ranksOnNode) rank\(ranksOnNode > 1 ? "s" : "") on a node = \(f(neededOnNode)), "
            + "but that node has \(f(availableBytes)) available (\(source)): \(f(availableBytes / max(ranksOnNode, 1))) per rank."
            + largest
            + " To fit, lower model.hidden_size, model.layers or model.vocab_size (parameters, gradients, Adam moments: 16 bytes per parameter, or 8 + 8/N on N ranks with distributed.zero_stage = 1),"
            + " batch.micro_batch_size or model.seq_length (activations), or run fewer ranks per node."
            + " `atelier estimate JOB` shows the breakdown; --ignore-memory-check starts the job anyway"
    }
}

extension MemoryEstimate {
    /// Throws `MemoryShortfall` when `ranksOnNode` ranks (rank 0 among them if `hostsRankZero`)
    /// need more than `availableBytes`.
    public func check(ranksOnNode: Int, hostsRankZero: Bool, availableBytes: Int, source: String) throws {
        let shortfall = MemoryShortfall(estimate: self, ranksOnNode: ranksOnNode, hostsRankZero: hostsRankZero,
                                        availableBytes: availableBytes, source: source)
        if shortfall.neededOnNode > availableBytes { throw shortfall }
    }
}

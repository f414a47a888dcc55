import MPI
#if canImport(Glibc)
import Glibc
#endif

/// Where this rank sits: its node (the ranks sharing memory with it) and the cores there.
public struct NodeTopology {
    public let worldRank: Int, worldSize: Int
    public let localRank: Int, localSize: Int
    public let hostName: String
    public let coresOnNode: Int
    public let node: Communicator

    public init(world: Communicator) throws {
        node = try world.splitShared()
        worldRank = world.rank; worldSize = world.size
        localRank = node.rank; localSize = node.size
        hostName = Communicator.processorName()
        coresOnNode = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// BLAS threads for one rank: the node's cores shared evenly among the ranks on it.
    public var defaultBLASThreads: Int { Self.blasThreads(cores: coresOnNode, ranksOnNode: localSize) }

    public static func blasThreads(cores: Int, ranksOnNode: Int) -> Int { max(1, cores / max(1, ranksOnNode)) }
}

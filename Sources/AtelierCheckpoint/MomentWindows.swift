import AtelierModel
import HDF5

/// The Adam moments of a checkpoint moved in bounded windows instead of whole: with ZeRO stage 1 no
/// rank holds all of m and v, so a save gathers them onto rank 0 window by window while it writes,
/// and a load reads them window by window and sends each rank its shard's part.
///
/// A window is a flat range of the parameters made of whole HDF5 chunks (`H5File.chunkRows`, about
/// 1M elements) of consecutive tensors, at most `maxFloats` long (a chunk longer than that is a
/// window of its own). The windows depend on the model's shape and `maxFloats` only, so every rank
/// walks the same ones.
public enum MomentWindows {
    /// Floats per window and moment: 4M (16 MiB), so m and v take 32 MiB.
    public static let defaultMaxFloats = 1 << 22

    /// One tensor's rows inside a window.
    public struct Piece: Sendable {
        public let tensor: Int          // index into layout.tensors
        public let rows: Range<Int>     // along the tensor's first dimension
        public let flat: Range<Int>     // the same elements' flat offsets
    }

    public struct Window: Sendable {
        public let range: Range<Int>    // flat offsets
        public let pieces: [Piece]
    }

    /// The windows covering [0, layout.count), in order.
    public static func plan(layout: ParameterLayout, maxFloats: Int = defaultMaxFloats) -> [Window] {
        var windows: [Window] = []
        var pieces: [Piece] = []
        func close() {
            guard let first = pieces.first, let last = pieces.last else { return }
            windows.append(Window(range: first.flat.lowerBound..<last.flat.upperBound, pieces: pieces))
            pieces = []
        }
        for (index, t) in layout.tensors.enumerated() where t.count > 0 {
            let rowLength = max(1, t.shape.dropFirst().reduce(1, *)), chunkRows = H5File.chunkRows(t.shape)
            for first in stride(from: 0, to: t.shape[0], by: chunkRows) {
                let rows = first..<min(t.shape[0], first + chunkRows)
                let flat = (t.offset + rows.lowerBound * rowLength)..<(t.offset + rows.upperBound * rowLength)
                let open = pieces.last.map { $0.flat.upperBound - pieces[0].flat.lowerBound } ?? 0
                if open + flat.count > maxFloats { close() }
                // Consecutive chunks of one tensor in a window become one piece.
                if let last = pieces.last, last.tensor == index {
                    pieces[pieces.count - 1] = Piece(tensor: index, rows: last.rows.lowerBound..<rows.upperBound,
                                                     flat: last.flat.lowerBound..<flat.upperBound)
                } else {
                    pieces.append(Piece(tensor: index, rows: rows, flat: flat))
                }
            }
        }
        close()
        return windows
    }

    /// The most floats a window of `plan` holds (what each of m and v needs for one window).
    public static func largest(layout: ParameterLayout, maxFloats: Int = defaultMaxFloats) -> Int {
        plan(layout: layout, maxFloats: maxFloats).map(\.range.count).max() ?? 0
    }

    /// Bytes a windowed save or load holds on rank 0 besides the state: one window of m and one of
    /// v, and while saving one chunk buffer for each of the two moment dataset streams.
    public static func bufferBytes(layout: ParameterLayout, maxFloats: Int = defaultMaxFloats) -> Int {
        let chunk = layout.tensors.map { FloatDatasetStream.bufferBytes(shape: $0.shape) }.max() ?? 0
        return 2 * largest(layout: layout, maxFloats: maxFloats) * MemoryLayout<Float>.stride + 2 * chunk
    }

    /// Reads one window of a checkpoint's moments at a time (rows of each tensor's datasets,
    /// checksums verified), for a load that sends each rank its shard.
    public final class Reader {
        let file: H5File
        let path: String
        let layout: ParameterLayout

        public init(path: String, layout: ParameterLayout) throws {
            self.path = path
            self.layout = layout
            do { file = try H5File.open(path) } catch let error as HDF5Error { throw CheckpointError.unreadable(error) }
        }

        /// m and v of `window` into `expAvg` and `expAvgSq` [window.range.count].
        public func read(_ window: Window, expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>) throws {
            do {
                for piece in window.pieces {
                    let t = layout.tensors[piece.tensor], at = piece.flat.lowerBound - window.range.lowerBound
                    try file.read("/optimizer/exp_avg/\(t.name)", shape: t.shape, rows: piece.rows, into: expAvg + at)
                    try file.read("/optimizer/exp_avg_sq/\(t.name)", shape: t.shape, rows: piece.rows, into: expAvgSq + at)
                }
            } catch let error as HDF5Error {
                throw CheckpointError.unreadable(error)
            }
        }

        public func close() { try? file.close() }
    }
}

import AtelierCheckpoint
import AtelierJob
import AtelierModel
import Foundation

/// `atelier bench --checkpoint`: saving and loading the benchmark model's checkpoint (parameters
/// plus both Adam moments) against a raw sequential write and read of the same number of bytes,
/// in the same run, on the same disk. The page cache is dropped for each file before it is read
/// (posix_fadvise DONTNEED after fsync), so reads come from the disk for both. Each figure is the
/// best of `repetitions` interleaved runs.
struct CheckpointBench {
    struct Report: Codable {
        let bytes: Double
        let raw_write_mb_s, raw_read_mb_s: Double
        let save_mb_s, load_mb_s: Double
        let save_vs_raw, load_vs_raw: Double
        let background_blocked_s, background_write_s, blocked_fraction: Double

        var text: String {
            func f(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }
            return """
            checkpoint of \(f(bytes / 1e6, 0)) MB (params + exp_avg + exp_avg_sq); best of 3 interleaved runs each
            raw write + fsync: \(f(raw_write_mb_s, 0)) MB/s; checkpoint save: \(f(save_mb_s, 0)) MB/s (\(f(100 * save_vs_raw))% of raw)
            raw read: \(f(raw_read_mb_s, 0)) MB/s; checkpoint load (checksums verified): \(f(load_mb_s, 0)) MB/s (\(f(100 * load_vs_raw))% of raw)
            background save: training blocked \(f(background_blocked_s, 3)) s of a \(f(background_write_s, 2)) s save (\(f(100 * blocked_fraction))%)
            """
        }
    }

    let shape: ModelShape
    let directory: String
    var repetitions = 3

    func measure() throws -> Report {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let layout = ParameterLayout(shape: shape)
        let params = FloatBuffer(count: layout.count), m = FloatBuffer(count: layout.count), v = FloatBuffer(count: layout.count)
        layout.initialize(params, seed: 1)
        layout.initialize(m, seed: 2)
        layout.initialize(v, seed: 3)
        let bytes = Double(3 * params.bytes)

        // Interleaved repetitions, best of each: the disk here is shared and its speed moves a lot.
        let raw = directory + "/raw.bin"
        let checkpoints = CheckpointDirectory(runDirectory: directory)
        var counters = TrainingCounters()
        var best = (rawWrite: Double.infinity, rawRead: Double.infinity, save: Double.infinity, load: Double.infinity)
        for repetition in 0..<repetitions {
            best.rawWrite = min(best.rawWrite, try time { try writeRaw(raw, [params, m, v]) })
            try dropCache(raw)
            best.rawRead = min(best.rawRead, try time { try readRaw(raw, [params, m, v]) })
            unlink(raw)
            counters.iteration = repetition + 1
            var path = ""
            best.save = min(best.save, try time {
                path = try checkpoints.save(iteration: counters.iteration, keepLast: 1, keepEvery: 0) { p in
                    try CheckpointFile.write(path: p, layout: layout, params: params, expAvg: m, expAvgSq: v, counters: counters,
                                             jobText: "", worldSize: 1, programVersion: "bench")
                }
            })
            try dropCache(path)
            best.load = min(best.load, try time { _ = try CheckpointFile.read(path: path, layout: layout, params: params, expAvg: m, expAvgSq: v) })
        }
        let (rawWrite, rawRead, save, load) = best

        let writer = CheckpointWriter(directory: checkpoints, layout: layout)
        final class Box: @unchecked Sendable { var saved: CheckpointWriter.Saved? }
        let box = Box()
        counters.iteration = repetitions + 1
        try writer.save(params: params, expAvg: m, expAvgSq: v, counters: counters, jobText: "", worldSize: 1,
                        programVersion: "bench", keepLast: 1, keepEvery: 0) { box.saved = $0 }
        try writer.finish()
        let blocked = box.saved?.blockedSeconds ?? .nan, written = box.saved?.writeSeconds ?? .nan
        return Report(bytes: bytes, raw_write_mb_s: bytes / rawWrite / 1e6, raw_read_mb_s: bytes / rawRead / 1e6,
                      save_mb_s: bytes / save / 1e6, load_mb_s: bytes / load / 1e6,
                      save_vs_raw: rawWrite / save, load_vs_raw: rawRead / load,
                      background_blocked_s: blocked, background_write_s: written, blocked_fraction: blocked / written)
    }

    func time(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    func writeRaw(_ path: String, _ buffers: [FloatBuffer]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXFailure(call: "open", path: path, code: errno) }
        defer { close(fd) }
        for b in buffers {
            var offset = 0
            while offset < b.bytes {
                let n = write(fd, UnsafeRawPointer(b.base) + offset, min(8 << 20, b.bytes - offset))
                guard n > 0 else { throw POSIXFailure(call: "write", path: path, code: errno) }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw POSIXFailure(call: "fsync", path: path, code: errno) }
    }

    func readRaw(_ path: String, _ buffers: [FloatBuffer]) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXFailure(call: "open", path: path, code: errno) }
        defer { close(fd) }
        for b in buffers {
            var offset = 0
            while offset < b.bytes {
                let n = read(fd, UnsafeMutableRawPointer(b.base) + offset, min(8 << 20, b.bytes - offset))
                guard n > 0 else { throw POSIXFailure(call: "read", path: path, code: errno) }
                offset += n
            }
        }
    }

    /// Makes the next read of `path` come from the disk.
    func dropCache(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXFailure(call: "open", path: path, code: errno) }
        defer { close(fd) }
        fsync(fd)
        _ = posix_fadvise(fd, 0, 0, 4 /* POSIX_FADV_DONTNEED */)
    }
}


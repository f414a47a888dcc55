import AtelierCore
import AtelierCheckpoint
import AtelierJob
import AtelierModel
import Foundation

/// `atelier bench --checkpoint`: saving and loading the benchmark model's checkpoint (parameters
/// plus both Adam moments) against a raw sequential write and read of the same number of bytes,
/// in the same run, on the same disk. The page cache is dropped for each file before it is read
/// (posix_fadvise DONTNEED after fsync), so reads come from the disk for both. Each figure is the
/// median of `repetitions` interleaved pairs' ratios.
struct CheckpointBench {
    struct Report: Codable {
        let bytes: Double
        let repetitions: Int
        let raw_write_mb_s, raw_read_mb_s: Double
        let save_mb_s, load_mb_s: Double
        let save_vs_raw, load_vs_raw: Double
        let background_blocked_s, background_write_s, blocked_fraction: Double

        var text: String {
            func f(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }
            return """
            checkpoint of \(f(bytes / 1e6, 0)) MB (params + exp_avg + exp_avg_sq); \(repetitions) interleaved pairs, best throughputs, median ratios
            raw write + fsync: \(f(raw_write_mb_s, 0)) MB/s; checkpoint save: \(f(save_mb_s, 0)) MB/s; save / raw: \(f(100 * save_vs_raw))%
            raw read: \(f(raw_read_mb_s, 0)) MB/s; checkpoint load (checksums verified): \(f(load_mb_s, 0)) MB/s; load / raw: \(f(100 * load_vs_raw))%
            background save (median of \(repetitions)): training blocked \(f(background_blocked_s, 3)) s of a \(f(background_write_s, 2)) s save (\(f(100 * blocked_fraction))%)
            """
        }
    }

    let shape: ModelShape
    let directory: String
    var repetitions = 5

    func measure() throws -> Report {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let layout = ParameterLayout(shape: shape)
        let params = FloatBuffer(count: layout.count), m = FloatBuffer(count: layout.count), v = FloatBuffer(count: layout.count)
        layout.initialize(params, seed: 1)
        layout.initialize(m, seed: 2)
        layout.initialize(v, seed: 3)
        let bytes = Double(3 * params.bytes)

        // Interleaved repetitions: each pairs a raw write with a save and a raw read with a load,
        // back to back, alternating which goes first. The disk here is shared and its speed moves a
        // lot between seconds, so the ratios are the median of the pairs' ratios; throughputs are
        // the best seen.
        let raw = directory + "/raw.bin"
        let checkpoints = CheckpointDirectory(runDirectory: directory)
        var counters = TrainingCounters()
        var rawWrites: [Double] = [], saves: [Double] = [], rawReads: [Double] = [], loads: [Double] = []
        for repetition in 0..<repetitions {
            counters.iteration = repetition + 1
            var path = ""
            let rawWrite = { try self.time { try self.writeRaw(raw, [params, m, v]) } }
            let save = {
                try self.time {
                    path = try checkpoints.save(iteration: counters.iteration, keepLast: 2, keepEvery: 0) { p in
                        try CheckpointFile.write(path: p, layout: layout, params: params, expAvg: m, expAvgSq: v, counters: counters,
                                                 jobText: "", worldSize: 1, programVersion: "bench")
                    }
                }
            }
            let rawFirst = repetition % 2 == 0
            if rawFirst { rawWrites.append(try rawWrite()); saves.append(try save()) } else { saves.append(try save()); rawWrites.append(try rawWrite()) }
            try dropCache(raw)
            try dropCache(path)
            let rawRead = { try self.time { try self.readRaw(raw, [params, m, v]) } }
            let load = { try self.time { _ = try CheckpointFile.read(path: path, layout: layout, params: params, expAvg: m, expAvgSq: v) } }
            if rawFirst { rawReads.append(try rawRead()); loads.append(try load()) } else { loads.append(try load()); rawReads.append(try rawRead()) }
            // deleted outside the timings, like the raw file: retention is not part of writing
            unlink(raw)
            unlink(path)
        }
        let saveVsRaw = median(zip(rawWrites, saves).map { $0 / $1 })
        let loadVsRaw = median(zip(rawReads, loads).map { $0 / $1 })

        // Background saves as training makes them: the median of `repetitions` saves.
        let writer = try CheckpointWriter(directory: checkpoints, layout: layout)
        final class Box: @unchecked Sendable { var saves: [CheckpointWriter.Saved] = [] }
        let box = Box()
        for repetition in 0..<repetitions {
            counters.iteration = repetitions + 1 + repetition
            try writer.save(params: params, expAvg: m, expAvgSq: v, counters: counters, jobText: "", worldSize: 1,
                            programVersion: "bench", keepLast: 1, keepEvery: 0) { box.saves.append($0) }
            try writer.finish()
        }
        let fractions = box.saves.map { $0.blockedSeconds / $0.writeSeconds }
        let middle = box.saves.sorted { $0.blockedSeconds / $0.writeSeconds < $1.blockedSeconds / $1.writeSeconds }[box.saves.count / 2]
        let blocked = middle.blockedSeconds, written = middle.writeSeconds
        return Report(bytes: bytes, repetitions: repetitions, raw_write_mb_s: bytes / rawWrites.min()! / 1e6, raw_read_mb_s: bytes / rawReads.min()! / 1e6,
                      save_mb_s: bytes / saves.min()! / 1e6, load_mb_s: bytes / loads.min()! / 1e6,
                      save_vs_raw: saveVsRaw, load_vs_raw: loadVsRaw,
                      background_blocked_s: blocked, background_write_s: written, blocked_fraction: median(fractions))
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


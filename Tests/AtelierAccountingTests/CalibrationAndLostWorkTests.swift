import AtelierAccounting
import Foundation
import XCTest

/// An estimate of `deviceHours`, `kWh` and (`kWh` / 10 + 0.01) kgCO2eq for job `id`.
func estimateRecord(_ id: String, deviceHours: Double, kWh: Double) -> EstimateRecord {
    EstimateRecord(jobID: id, at: 1, mfu: 0.5, devicePeakFLOPs: 1e11, tokens: 1000, modelFlops: 1e15, deviceHours: deviceHours,
                   energyKWh: kWh, operationalKg: kWh * 0.1, embodiedKg: 0.01)
}

/// Group "g": 3 finished jobs whose actual / estimate is 2, 0.5 and 1 in device-hours (4, 1 and 2
/// in kWh); group "h": 1 finished job at 4x (0.25x in kWh); plus a running job and a finished job
/// without an estimate, which calibrate nothing. `interval()` is 2 device-hours.
func calibrationOperations() -> [LedgerOperation] {
    var ops: [LedgerOperation] = []
    func finished(_ id: String, group: String, intervals kWh: [Double], estimate: EstimateRecord?, status: JobStatus = .finished) {
        ops.append(.begin(job(id, group: group), segment: 1, at: 10))
        if let estimate { ops.append(.estimate(estimate)) }
        for (i, k) in kWh.enumerated() { ops.append(.interval(interval(id, i + 1, iterations: (i * 10 + 1)...(i * 10 + 10), kWh: k))) }
        if status != .running { ops.append(.end(jobID: id, status: status, reason: "done", at: 20)) }
    }
    finished("g1", group: "g", intervals: [0.5, 0.5], estimate: estimateRecord("g1", deviceHours: 2, kWh: 0.25))   // 4 / 2, 1 / 0.25
    finished("g2", group: "g", intervals: [0.25], estimate: estimateRecord("g2", deviceHours: 4, kWh: 0.25))        // 2 / 4, 0.25 / 0.25... x1
    finished("g3", group: "g", intervals: [1], estimate: estimateRecord("g3", deviceHours: 2, kWh: 0.5))            // 2 / 2, 1 / 0.5
    finished("h1", group: "h", intervals: [0.125], estimate: estimateRecord("h1", deviceHours: 0.5, kWh: 0.5))      // 2 / 0.5, 0.125 / 0.5
    finished("running", group: "g", intervals: [1], estimate: estimateRecord("running", deviceHours: 100, kWh: 100), status: .running)
    finished("none", group: "g", intervals: [1], estimate: nil)
    ops.append(.estimate(estimateRecord("g1", deviceHours: 999, kWh: 999)))   // a later launch's: the first is kept
    return ops
}

/// Job "a": launch 1 is killed (no record) after interval 3, and launch 2 resumes from iteration
/// 20, so interval 1.3 is redone; launch 2 is stopped by a signal after one interval, launch 3
/// resumes from 30, so interval 2.1 is redone too. Each interval lasts 1 s, is 2 device-hours and
/// 0.3 kWh, with measured seconds per cause.
func lostWorkOperations() -> [LedgerOperation] {
    func timed(_ segment: Int, _ seq: Int, _ iterations: ClosedRange<Int>, _ o: IntervalOverheads) -> LedgerOperation {
        var r = interval("a", segment: segment, seq, iterations: iterations, kWh: 0.3)
        r.overheads = o
        return .interval(r)
    }
    let a = job("a")
    return [.begin(a, segment: 1, at: 1),
            timed(1, 1, 1...10, IntervalOverheads(checkpointSeconds: 0, evaluationSeconds: 0, startupSeconds: 0.3, skippedSeconds: 0.05)),
            timed(1, 2, 11...20, IntervalOverheads(checkpointSeconds: 0.1, evaluationSeconds: 0.2, startupSeconds: 0, skippedSeconds: 0)),
            timed(1, 3, 21...30, IntervalOverheads(checkpointSeconds: 0.25, evaluationSeconds: 0, startupSeconds: 0, skippedSeconds: 0)),
            .begin(a, segment: 2, at: 5), .lost(jobID: "a", afterIteration: 20, segment: 2),
            timed(2, 1, 21...40, IntervalOverheads(checkpointSeconds: 0, evaluationSeconds: 0, startupSeconds: 0.4, skippedSeconds: 0)),
            .launchEnded(jobID: "a", segment: 2, ending: .signal, reason: "stopped by a signal", at: 6),
            .end(jobID: "a", status: .stopped, reason: "stopped by a signal", at: 6),
            .begin(a, segment: 3, at: 7), .lost(jobID: "a", afterIteration: 30, segment: 3),
            // the causes fill more than the interval: they share it, nothing is useful
            timed(3, 1, 31...40, IntervalOverheads(checkpointSeconds: 0.7, evaluationSeconds: 0.6, startupSeconds: 0, skippedSeconds: 0)),
            .launchEnded(jobID: "a", segment: 3, ending: .finished, reason: "done", at: 9),
            .end(jobID: "a", status: .finished, reason: "done", at: 9)]
}

/// Calibration from a ledger's finished jobs, and lost work by cause, on SQLite and PostgreSQL.
final class CalibrationAndLostWorkTests: XCTestCase {
    var server: TestPostgreSQLServer?

    override func tearDown() { server?.down() }

    /// The ledgers to run each test on: a new SQLite file and a throwaway PostgreSQL server.
    func ledgers() throws -> [Ledger] {
        var out = [try Ledger(path: temporaryPath("ledger.sqlite"))]
        do {
            let server = try TestPostgreSQLServer()
            self.server = server
            out.append(try Ledger(path: server.url))
        } catch let skip as XCTSkip {
            print("PostgreSQL not tested: \(skip)")
        }
        return out
    }

    func testMedianAndRangeOfRatios() {
        XCTAssertEqual(RatioSpread([2, 0.5, 1]), RatioSpread(median: 1, low: 0.5, high: 2))
        XCTAssertEqual(RatioSpread([2, 0.5, 1, 4]), RatioSpread(median: 1.5, low: 0.5, high: 4))
        XCTAssertNil(RatioSpread([]))
    }

    func testCalibrationByGroupAndBySite() throws {
        for ledger in try ledgers() {
            for op in calibrationOperations() { try ledger.apply(op) }
            let history = try ledger.estimateOutcomes()
            XCTAssertEqual(history.map(\.jobID).sorted(), ["g1", "g2", "g3", "h1"], ledger.path)
            XCTAssertEqual(history.first { $0.jobID == "g1" }?.estimate.deviceHours, 2, "the first estimate is kept")
            XCTAssertEqual(history.first { $0.jobID == "g1" }?.actual.deviceHours, 4)

            // group g has 3 finished jobs: its own ratios
            let g = try XCTUnwrap(Calibration(history: history, group: "g"))
            XCTAssertEqual(g.scope, "working group g")
            XCTAssertEqual(g.jobs, 3)
            XCTAssertEqual(g.deviceHours, RatioSpread(median: 1, low: 0.5, high: 2))
            XCTAssertEqual(g.energyKWh, RatioSpread(median: 2, low: 1, high: 4))
            // group h has 1: the site's 4
            let h = try XCTUnwrap(Calibration(history: history, group: "h"))
            XCTAssertEqual(h.scope, "site")
            XCTAssertEqual(h.jobs, 4)
            XCTAssertEqual(h.deviceHours, RatioSpread(median: 1.5, low: 0.5, high: 4))
            XCTAssertEqual(h.energyKWh, RatioSpread(median: 1.5, low: 0.25, high: 4))
            XCTAssertEqual(try XCTUnwrap(Calibration(history: history, group: nil)), h)
            // kgCO2eq: actual (kWh / 10 + 0.01 per interval) over estimate (kWh / 10 + 0.01)
            let g1 = 2 * (0.05 + 0.01) / (0.025 + 0.01), g2 = (0.025 + 0.01) / (0.025 + 0.01), g3 = (0.1 + 0.01) / (0.05 + 0.01)
            XCTAssertEqual(g.totalKg.median, g3, accuracy: 1e-12)
            XCTAssertEqual(g.totalKg.low, g2, accuracy: 1e-12)
            XCTAssertEqual(g.totalKg.high, g1, accuracy: 1e-12)

            // applied to a new estimate of 10 device-hours and 3 kWh
            let applied = g.applied(to: Consumption(deviceHours: 10, energyKWh: 3, totalKg: 1))
            XCTAssertEqual([applied.low.deviceHours, applied.median.deviceHours, applied.high.deviceHours], [5, 10, 20])
            XCTAssertEqual([applied.low.energyKWh, applied.median.energyKWh, applied.high.energyKWh], [3, 6, 12])
            let site = h.applied(to: Consumption(deviceHours: 10, energyKWh: 3, totalKg: 1))
            XCTAssertEqual([site.low.deviceHours, site.median.deviceHours, site.high.deviceHours], [5, 15, 40])
        }
    }

    /// No finished job with an estimate: no calibration, and the estimate says so.
    func testNoHistoryAppliesNothing() throws {
        let ledger = try Ledger(path: temporaryPath("empty.sqlite"))
        XCTAssertEqual(try ledger.estimateOutcomes(), [])
        XCTAssertNil(Calibration(history: [], group: "g"))
        let calibrated = CalibratedEstimate(Estimate(deviceHours: 12, profile: try testProfile()), history: [], group: "g", ledger: ledger.path)
        XCTAssertNil(calibrated.calibration)
        XCTAssertTrue(calibrated.text.contains("no calibration applied"), calibrated.text)
    }

    func testCalibratedEstimateText() throws {
        let history = [(0.8, "a"), (1.3, "b"), (1.0, "c")].map { ratio, id in
            EstimateOutcome(jobID: id, workingGroup: "x", estimate: estimateRecord(id, deviceHours: 10, kWh: 1),
                            actual: Consumption(deviceHours: 10 * ratio, energyKWh: ratio, totalKg: 0.11 * ratio))
        }
        var estimate = Estimate(deviceHours: 12, profile: try testProfile())
        estimate.mfu = 0.5
        let calibrated = CalibratedEstimate(estimate, history: history, group: "y", ledger: "l")
        XCTAssertTrue(calibrated.text.hasPrefix("calibration: 12.0 device-hours at 50% MFU; 3 finished jobs on this site took 0.80-1.30x (median 1.00x) their estimates, so 9.6-15.6 device-hours (median 12.0)"), calibrated.text)
    }

    /// Every interval split by its own ratios: the parts add up to the job's units exactly, and
    /// each cause gets what was measured.
    func testLostWorkAddsUpToTheJobExactly() throws {
        var splits: [[WorkCause: WorkUnits]] = []
        for ledger in try ledgers() {
            for op in lostWorkOperations() { try ledger.apply(op) }
            let endings = try ledger.launchEndings()
            XCTAssertEqual(endings["a"], [1: .killed, 2: .signal, 3: .finished], ledger.path)
            let intervals = try ledger.intervals()
            XCTAssertEqual(intervals.filter(\.lost).map { "\($0.record.segment).\($0.record.sequence)" }, ["2.1", "1.3"])
            XCTAssertEqual(intervals.first?.record.overheads?.startupSeconds, 0.3)
            var parts: [WorkCause: WorkUnits] = [:]
            var whole = WorkUnits()
            for i in intervals {
                let split = try XCTUnwrap(LostWork.split(i.record, lost: i.lost, ending: endings["a"]?[i.record.segment]))
                let interval = split.values.reduce(WorkUnits(), +)
                XCTAssertEqual(interval.deviceMicroseconds, 7200 * 1_000_000)
                XCTAssertEqual(interval.energyMicroWh, 300_000_000)
                XCTAssertEqual(interval.operationalMicrograms, 30_000_000)
                XCTAssertEqual(interval.embodiedMicrograms, 10_000_000)
                whole = whole + interval
                for (cause, u) in split { parts[cause] = (parts[cause] ?? WorkUnits()) + u }
            }
            // the job's total in units, independently of the split
            let device = intervals.map { LanguageAttribution.units($0.record.totals.deviceSeconds, per: LostWork.perDeviceSecond)! }.reduce(0, +)
            XCTAssertEqual(whole.deviceMicroseconds, device)
            XCTAssertEqual(parts.values.reduce(WorkUnits(), +), whole)
            let total = try ledger.totals(jobID: "a") + ledger.totals(jobID: "a", lost: true)
            XCTAssertEqual(whole.deviceHours, total.deviceSeconds / 3600, accuracy: 1e-12)
            XCTAssertEqual(whole.energyKWh, total.energyKWh, accuracy: 1e-12)
            XCTAssertEqual(whole.totalKg, total.emissionsKg + total.embodiedKg, accuracy: 1e-12)

            let unit = Int64(7200 * 1_000_000)      // device-µs of one interval
            XCTAssertEqual(parts[.restartKilled]?.deviceMicroseconds, unit)
            XCTAssertEqual(parts[.restartSignal]?.deviceMicroseconds, unit)
            XCTAssertEqual(parts[.startup]?.deviceMicroseconds, unit * 3 / 10)
            XCTAssertEqual(parts[.skipped]?.deviceMicroseconds, unit * 5 / 100)
            XCTAssertEqual(parts[.useful]?.deviceMicroseconds, unit * 65 / 100 + unit * 7 / 10)
            let energy: Int64 = 300_000_000      // µWh of one interval
            XCTAssertEqual(parts[.useful]?.energyMicroWh, energy * 65 / 100 + energy * 7 / 10)
            // 7/13 and 6/13 of the last interval: the one unit left goes to the larger remainder (12/13 against 1/13)
            XCTAssertEqual(parts[.evaluation]?.deviceMicroseconds, unit * 2 / 10 + unit * 6 / 13)
            XCTAssertEqual(parts[.checkpoint]?.deviceMicroseconds, unit * 1 / 10 + unit * 7 / 13 + 1)
            XCTAssertEqual(parts[.restartStall], nil)
            splits.append(parts)
        }
        if splits.count == 2 { XCTAssertEqual(splits[0], splits[1], "SQLite and PostgreSQL give the same split") }
    }
}

/// A profile for estimates from device-hours: a 2-core CPU node.
func testProfile() throws -> ClusterProfile {
    let path = temporaryPath("profile.toml")
    try """
    site = "testsite"
    [grid]
    carbon_intensity = 100
    pue = 1.5
    [node]
    device = "cpu"
    cpu_model = "test cpu"
    cores = 2
    cpu_tdp_w = 20
    ram_gb = 16
    idle_w = 4
    device_peak_tflops = 0.1
    [embodied]
    device_kg = 1
    server_kg = 100
    lifetime_years = 5
    utilisation = 0.5
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return try ClusterProfile.load(path: path)
}

import Foundation
import XCTest

/// `atelier bench --json` on 2 ranks: the figures the benchmarks table reads, and the step's
/// phases, which add up to the step's time.
final class BenchCommandTests: XCTestCase {
    func testJSONReportsFiguresAndStepPhases() throws {
        let r = try AtelierProcess.run(["bench", "--json", "--steps", "2", "--warmup", "0", "--set", "distributed.blas_threads=1"], ranks: 2)
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").last { $0.hasPrefix("{") }, r.stdout)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(report["world_size"] as? Int, 2)
        XCTAssertEqual(report["steps"] as? Int, 2)
        XCTAssertEqual(report["shape"] as? String, "bench")
        let mfu = try XCTUnwrap(report["mfu"] as? Double), step = try XCTUnwrap(report["step_s_min"] as? Double)
        XCTAssertTrue(mfu > 0 && mfu < 1.5, "\(mfu)")
        let phases = try XCTUnwrap(report["phase_s_median"] as? [String: Double])
        XCTAssertEqual(Set(phases.keys), ["data", "zero_gradients", "forward", "loss", "backward", "gradient_wait", "norm",
                                          "optimizer", "parameter_gather"])
        for (name, seconds) in phases { XCTAssertGreaterThanOrEqual(seconds, 0, name) }
        // forward, lm_head + loss and backward are most of a step; ZeRO-1 (the default) gathers the parameters
        XCTAssertGreaterThan(phases["forward"]! + phases["loss"]! + phases["backward"]!, 0.5 * step)
        XCTAssertGreaterThan(phases["parameter_gather"]!, 0)
        XCTAssertLessThan(phases.values.reduce(0, +), 1.5 * (report["step_s_mean"] as! Double))
    }
}

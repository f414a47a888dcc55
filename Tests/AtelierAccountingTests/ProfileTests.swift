import AtelierAccounting
import AtelierJob
import Foundation
import XCTest

/// The repository's cluster/ directory.
let clusterDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("cluster")

final class ProfileTests: XCTestCase {
    static let valid = """
    site = "test"
    [grid]
    carbon_intensity = 100
    pue = 1.5
    [node]
    device = "cpu"
    cpu_model = "test cpu"
    cores = 4
    cpu_tdp_w = 40
    ram_gb = 16
    idle_w = 10
    device_peak_tflops = 0.1
    [embodied]
    device_kg = 0
    server_kg = 1000
    lifetime_years = 5
    utilisation = 0.5
    [working_groups.tokenization]
    budget_device_hours = 10
    [working_groups.biomedical]
    """

    func testShippedProfilesLoad() throws {
        let local = try ClusterProfile.load(path: clusterDirectory.appendingPathComponent("local.toml").path)
        XCTAssertEqual(local.node.device, .cpu)
        XCTAssertEqual(local.node.cores, ProcessInfo.processInfo.activeProcessorCount)   // "detect"
        XCTAssertGreaterThan(local.node.ramGB, 1)
        XCTAssertFalse(local.node.cpuModel.isEmpty)
        XCTAssertEqual(local.country?.code, "FRA")
        XCTAssertEqual(local.carbonIntensity, 56.0)
        XCTAssertNil(local.node.devicePeakFLOPs)
        let jz = try ClusterProfile.load(path: clusterDirectory.appendingPathComponent("jean-zay.toml").path)
        XCTAssertEqual(jz.node.gpus, 8)
        XCTAssertEqual(jz.node.gpuTDPWatts, 400)
        XCTAssertEqual(jz.carbonIntensity, 57)
        XCTAssertEqual(jz.pue, 1.2)
        XCTAssertEqual(jz.embodied.perServerHour, 2500 / (6 * 8760 * 0.85), accuracy: 1e-12)
        XCTAssertEqual(jz.embodied.perServerHour, 0.056, accuracy: 0.0005)
        XCTAssertEqual(jz.workingGroups["tokenization"] ?? nil, 50000)
    }

    func testFiguresAndWorkingGroups() throws {
        let p = try ClusterProfile.parse(text: Self.valid, file: "cluster/t.toml")
        XCTAssertEqual(p.node.ramWatts, 10)   // 16 GB: 2 DIMMs x 5 W
        XCTAssertEqual(p.node.devicePeakFLOPs, 1e11)
        XCTAssertEqual(p.workingGroups.count, 2)
        XCTAssertEqual(p.workingGroups["biomedical"], .some(nil))
        XCTAssertNoThrow(try p.checkWorkingGroup("tokenization", jobFile: "j.toml"))
        XCTAssertThrowsError(try p.checkWorkingGroup("astronomy", jobFile: "jobs/x.toml")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("jobs/x.toml") && text.contains("working_group") && text.contains("cluster/t.toml")
                          && text.contains("biomedical, tokenization") && text.contains("astronomy"), text)
        }
        let byCountry = try ClusterProfile.parse(text: Self.valid.replacingOccurrences(of: "carbon_intensity = 100", with: "country = \"deu\""), file: "c.toml")
        XCTAssertEqual(byCountry.carbonIntensity, CountryIntensity.lookup("DEU")!.gramsPerKWh)
        XCTAssertEqual(byCountry.country?.name, "Germany")
    }

    /// Each bad profile names the file and the field.
    func testBadProfilesNameFileAndField() {
        let cases: [(String, String, String)] = [
            ("pue = 1.5", "pue = -1", "grid.pue"),
            ("pue = 1.5", "pue = 40", "grid.pue"),
            ("pue = 1.5\n", "", "grid.pue"),
            ("cpu_tdp_w = 40", "cpu_tdp_w = 1e9", "node.cpu_tdp_w"),
            ("cpu_tdp_w = 40", "cpu_tdp_w = \"forty\"", "node.cpu_tdp_w"),
            ("carbon_intensity = 100", "country = \"XYZ\"", "grid.country"),
            ("carbon_intensity = 100", "carbon_intensity = 100\ncountry = \"FRA\"", "grid.country"),
            ("carbon_intensity = 100", "", "grid.carbon_intensity"),
            ("device = \"cpu\"", "device = \"tpu\"", "node.device"),
            ("device = \"cpu\"", "device = \"gpu\"", "node.gpus"),
            ("utilisation = 0.5", "utilisation = 0", "embodied.utilisation"),
            ("lifetime_years = 5", "lifetime_years = 5\nlifetime_hours = 3", "embodied.lifetime_hours"),
            ("budget_device_hours = 10", "budget_device_hours = -3", "working_groups.tokenization.budget_device_hours"),
            ("server_kg = 1000", "", "embodied.server_kg"),
        ]
        for (from, to, field) in cases {
            let text = Self.valid.replacingOccurrences(of: from, with: to)
            XCTAssertThrowsError(try ClusterProfile.parse(text: text, file: "cluster/bad.toml"), "\(field)") { e in
                let message = "\(e)"
                XCTAssertTrue(message.contains("cluster/bad.toml") && message.contains(field), "\(field): \(message)")
            }
        }
        XCTAssertThrowsError(try ClusterProfile.load(path: "/nonexistent/p.toml")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/p.toml"), "\(e)")
        }
        // an unknown key cites the profile's reference, wherever the file is
        XCTAssertThrowsError(try ClusterProfile.parse(text: Self.valid + "\nsiet = 1\n", file: "profiles/site.toml")) { e in
            XCTAssertTrue("\(e)".contains("siet") && "\(e)".contains("see docs/accounting.md"), "\(e)")
        }
        XCTAssertThrowsError(try ClusterProfile.parse(text: "site = [", file: "cluster/syntax.toml")) { e in
            XCTAssertTrue("\(e)".contains("cluster/syntax.toml"), "\(e)")
        }
    }
}

import AtelierJob
import Foundation

/// A site's figures for the accounting chain (docs/accounting.md), from a TOML file in cluster/
/// written in the same language as the job files. Every figure is checked: missing, negative or
/// absurd values are errors naming the file and the field.
public struct ClusterProfile: Sendable, Equatable {
    public enum Device: String, Sendable { case gpu, cpu }

    public var path: String
    public var site: String
    /// gCO2eq per kWh taken from the grid, and where it comes from ("grid.carbon_intensity" or the
    /// bundled country table).
    public var carbonIntensity: Double
    public var intensitySource: String
    public var country: (code: String, name: String)?
    /// Power usage effectiveness: facility energy / IT energy. Applied once, to the node's total.
    public var pue: Double
    public var node: Node
    public var embodied: Embodied
    /// Device-hour budgets per working group; empty when the profile lists none (then any group
    /// name is accepted and none has a budget).
    public var workingGroups: [String: Double?]
    /// The MFU `atelier estimate` assumes when it is not given one.
    public var expectedMFU: Double?
    /// Litres of water evaporated or withdrawn off site per kWh taken from the grid (electricity
    /// generation: cooling of thermal plants, hydro evaporation): `grid.water_l_per_kwh`; nil: not known.
    public var waterLitresPerKWh: Double?
    /// Water usage effectiveness of the site's cooling, litres per kWh of IT energy: `site.wue`; nil: not known.
    public var wue: Double?

    public struct Node: Sendable, Equatable {
        /// What device-hours count: GPUs, or CPU cores.
        public var device: Device
        public var cpuModel: String
        public var cores: Int
        public var cpuTDPWatts: Double         // all CPU packages of the node
        public var ramGB: Double
        public var ramWatts: Double            // given, or CodeCarbon v3's DIMM model from ramGB
        public var gpus: Int
        public var gpuModel: String
        public var gpuTDPWatts: Double         // each
        public var devicePeakFLOPs: Double?    // per device, for estimates; nil: measure this machine
        public var idleWatts: Double           // the node's static power beyond the CPU/GPU/RAM model

        /// Accounting devices per node: GPUs, or cores.
        public var devices: Int { device == .gpu ? gpus : cores }
    }

    public struct Embodied: Sendable, Equatable {
        public var deviceKg: Double            // LCA emissions of one device
        public var serverKg: Double            // of one server (node), devices excluded
        public var lifetimeYears: Double
        public var utilisation: Double         // fraction of its lifetime the hardware is in use

        /// kgCO2eq per hour of use: the LCA figure spread over the hours the hardware is used.
        public var perDeviceHour: Double { deviceKg / usedHours }
        public var perServerHour: Double { serverKg / usedHours }
        var usedHours: Double { lifetimeYears * 8760 * utilisation }
    }

    public static func == (a: ClusterProfile, b: ClusterProfile) -> Bool {
        a.path == b.path && a.site == b.site && a.carbonIntensity == b.carbonIntensity && a.pue == b.pue
            && a.node == b.node && a.embodied == b.embodied && a.workingGroups == b.workingGroups
            && a.waterLitresPerKWh == b.waterLitresPerKWh && a.wue == b.wue
    }

    /// Reads and checks a profile. Fields set to "detect" (cpu_model, cores, ram_gb,
    /// device_peak_tflops) are read off this machine.
    public static func load(path: String) throws -> ClusterProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError.unreadable(file: path, reason: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw JobError.unreadable(file: path, reason: "it is not valid UTF-8") }
        return try parse(text: text, file: path)
    }

    public static func parse(text: String, file: String, host: HostFacts = .current) throws -> ClusterProfile {
        var r = FieldReader(root: try JobValue.parse(toml: text, file: file), file: file, reference: "docs/accounting.md")
        func invalid(_ field: String, _ expected: String, _ found: String) -> JobError {
            JobError.invalid(file: file, field: field, expected: expected, found: found)
        }
        /// A number in [low, high]: absurd values are refused, not just negative ones.
        func number(_ field: String, _ low: Double, _ high: Double, default fallback: Double? = nil) throws -> Double {
            let x = try r.double(field, default: fallback)
            guard x >= low && x <= high else { throw invalid(field, "a number from \(low) to \(high)", "\(x)") }
            return x
        }
        /// A string or "detect".
        func detected(_ field: String, _ detect: () -> String?) throws -> String {
            let s = try r.string(field)
            guard s == "detect" else { return s }
            guard let found = detect() else { throw invalid(field, "a value (this machine does not tell)", "\"detect\"") }
            return found
        }
        func detectedNumber(_ field: String, _ low: Double, _ high: Double, _ detect: () -> Double?) throws -> Double {
            if case .string(let s)? = r.root[path: field] {
                _ = try r.string(field)
                guard s == "detect" else { throw JobError.wrongType(file: file, field: field, expected: "a number or \"detect\"", found: "the string \"\(s)\"") }
                guard let found = detect() else { throw invalid(field, "a number (this machine does not tell)", "\"detect\"") }
                return found
            }
            return try number(field, low, high)
        }

        // `site` is the site's name, or a table with its name and its cooling's water use.
        let siteIsTable: Bool
        if case .table? = r.root[path: "site"] { siteIsTable = true } else { siteIsTable = false }
        let siteField = siteIsTable ? "site.name" : "site"
        let site = try r.string(siteField)
        guard !site.isEmpty else { throw invalid(siteField, "a name", "an empty string") }
        // Off-site water of electricity generation is ~1-4 L/kWh (Macknick et al. 2012; hydro
        // evaporation can reach tens); on-site WUE is 0-2 L/kWh. Beyond these bounds it is a typo.
        let wue = siteIsTable && r.wasSet("site.wue") ? try number("site.wue", 0, 20) : nil
        let waterPerKWh = r.wasSet("grid.water_l_per_kwh") ? try number("grid.water_l_per_kwh", 0, 100) : nil
        var intensity: Double, source: String
        var country: (code: String, name: String)?
        switch (r.wasSet("grid.carbon_intensity"), try r.optionalString("grid.country")) {
        case (true, nil):
            intensity = try number("grid.carbon_intensity", 0, 2000)
            source = "grid.carbon_intensity in \(file)"
        case (false, let code?):
            guard let entry = CountryIntensity.lookup(code) else {
                throw invalid("grid.country", "an ISO 3166-1 alpha-3 code of the bundled table (FRA, DEU, USA, ...)", "\"\(code)\"")
            }
            intensity = entry.gramsPerKWh
            source = "\(entry.name) \(entry.year), bundled table (CodeCarbon 3.0 / Ember / Our World in Data)"
            country = (code.uppercased(), entry.name)
        case (true, _?):
            throw invalid("grid.country", "either grid.country or grid.carbon_intensity, not both", "both")
        case (false, nil):
            throw JobError.missing(file: file, field: "grid.carbon_intensity", expected: "gCO2eq/kWh (or grid.country, an ISO code)")
        }
        let pue = try number("grid.pue", 1, 3)

        let deviceName = try r.string("node.device")
        guard let device = Device(rawValue: deviceName) else { throw invalid("node.device", "\"gpu\" or \"cpu\"", "\"\(deviceName)\"") }
        let cores = Int(try detectedNumber("node.cores", 1, 100_000) { Double(host.cores) })
        let ramGB = try detectedNumber("node.ram_gb", 0.5, 1_000_000) { host.ramGB }
        let gpus = try r.int("node.gpus", default: 0, min: 0, max: 64)
        if device == .gpu && gpus == 0 { throw invalid("node.gpus", "at least 1 when node.device is \"gpu\"", "0") }
        // "detect": measured by `atelier estimate` when it needs it (an sgemm on one core).
        var peakIsDetected = false
        if case .string(let s)? = r.root[path: "node.device_peak_tflops"] {
            guard s == "detect" else { throw JobError.wrongType(file: file, field: "node.device_peak_tflops", expected: "a number or \"detect\"", found: "the string \"\(s)\"") }
            _ = try r.string("node.device_peak_tflops")
            peakIsDetected = true
        }
        let node = Node(
            device: device,
            cpuModel: try detected("node.cpu_model") { host.cpuModel },
            cores: cores,
            cpuTDPWatts: try number("node.cpu_tdp_w", 0, 10_000),
            ramGB: ramGB,
            ramWatts: r.wasSet("node.ram_power_w") ? try number("node.ram_power_w", 0, 10_000) : PowerModel.ramWatts(gigabytes: ramGB),
            gpus: gpus,
            gpuModel: try r.string("node.gpu_model", default: gpus > 0 ? "unknown" : ""),
            gpuTDPWatts: gpus > 0 ? try number("node.gpu_tdp_w", 1, 5_000) : 0,
            devicePeakFLOPs: peakIsDetected ? nil : 1e12 * (try number("node.device_peak_tflops", 1e-4, 1e5)),
            idleWatts: try number("node.idle_w", 0, 100_000))
        let embodied = Embodied(deviceKg: try number("embodied.device_kg", 0, 100_000),
                                serverKg: try number("embodied.server_kg", 0, 1_000_000),
                                lifetimeYears: try number("embodied.lifetime_years", 0.1, 50),
                                utilisation: try number("embodied.utilisation", 0.01, 1))
        var groups: [String: Double?] = [:]
        for name in try r.tableKeys("working_groups") {
            _ = try r.tableKeys("working_groups.\(name)")
            groups[name] = r.wasSet("working_groups.\(name).budget_device_hours")
                ? try number("working_groups.\(name).budget_device_hours", 0, 1e12) : Optional<Double>.none
            _ = try r.optionalString("working_groups.\(name).description")
        }
        let mfu = r.wasSet("expected_mfu") ? try number("expected_mfu", 0.001, 1) : nil
        _ = try r.optionalString("description")
        try r.rejectUnknownKeys()
        return ClusterProfile(path: file, site: site, carbonIntensity: intensity, intensitySource: source, country: country,
                              pue: pue, node: node, embodied: embodied, workingGroups: groups, expectedMFU: mfu,
                              waterLitresPerKWh: waterPerKWh, wue: wue)
    }

    /// Refuses a working group the profile does not list (when it lists any).
    public func checkWorkingGroup(_ name: String, jobFile: String) throws {
        guard !workingGroups.isEmpty, workingGroups[name] == nil else { return }
        throw JobError.invalid(file: jobFile, field: "working_group",
                               expected: "one of the working groups \(path) lists: \(workingGroups.keys.sorted().joined(separator: ", "))",
                               found: "\"\(name)\"")
    }
}

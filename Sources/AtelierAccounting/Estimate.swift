import AtelierJob
import Foundation

/// `atelier estimate`: what a job will cost before it starts, with the ledger's chain
/// (`EnergyChain.fullLoad`): FLOPs for the job's token budget, device-hours at an MFU, energy and
/// emissions. Or, given device-hours directly, the same chain from there (the BLOOM paper's case).
public struct Estimate: Codable, Sendable {
    public var site: String
    public var tokens: Double?
    public var modelFlops: Double?
    public var mfu: Double?
    public var devicePeakFLOPs: Double?
    public var deviceHours: Double
    public var nodeHours: Double
    public var dynamicKWh: Double
    public var idleAndInfrastructureKWh: Double
    public var energyKWh: Double
    public var dynamicKg: Double
    public var idleAndInfrastructureKg: Double
    public var operationalKg: Double
    public var embodiedDevicesKg: Double
    public var embodiedServersKg: Double
    public var embodiedKg: Double
    public var totalKg: Double
    public var pue: Double
    public var carbonIntensity: Double
    public var water: WaterUse
    public var tokenCost: TokenCost?        // with a token budget

    enum CodingKeys: String, CodingKey {
        case site, tokens, modelFlops = "model_flops", mfu, devicePeakFLOPs = "device_peak_flops", deviceHours = "device_hours"
        case nodeHours = "node_hours", dynamicKWh = "dynamic_kwh", idleAndInfrastructureKWh = "idle_and_infrastructure_kwh"
        case energyKWh = "energy_kwh", dynamicKg = "dynamic_kgco2eq", idleAndInfrastructureKg = "idle_and_infrastructure_kgco2eq"
        case operationalKg = "operational_kgco2eq", embodiedDevicesKg = "embodied_devices_kgco2eq"
        case embodiedServersKg = "embodied_servers_kgco2eq", embodiedKg = "embodied_kgco2eq", totalKg = "total_kgco2eq"
        case pue, carbonIntensity = "carbon_intensity_g_per_kwh", water, tokenCost = "cost_per_token"
    }

    /// From device-hours at full load.
    public init(deviceHours: Double, profile: ClusterProfile) {
        let chain = EnergyChain(profile: profile)
        let t = chain.fullLoad(deviceHours: deviceHours)
        site = profile.site
        self.deviceHours = deviceHours
        nodeHours = t.nodeSeconds / 3600
        dynamicKWh = EnergyChain.dynamicKWh(t)
        idleAndInfrastructureKWh = EnergyChain.idleAndInfrastructureKWh(t)
        energyKWh = t.energyKWh
        let perKWh = profile.carbonIntensity / 1000
        dynamicKg = dynamicKWh * perKWh
        idleAndInfrastructureKg = idleAndInfrastructureKWh * perKWh
        operationalKg = t.emissionsKg
        embodiedDevicesKg = chain.embodiedDevicesKg(t)
        embodiedServersKg = chain.embodiedServersKg(t)
        embodiedKg = t.embodiedKg
        totalKg = operationalKg + embodiedKg
        pue = profile.pue
        carbonIntensity = profile.carbonIntensity
        water = WaterUse(t, profile: profile)
    }

    /// From a job's token budget: FLOPs = (6N + 12LhT) x tokens; device-hours = FLOPs / (MFU x
    /// peak per device).
    public init(job: Job, profile: ClusterProfile, mfu: Double, devicePeakFLOPs: Double) {
        let tokens = Double(job.train.iterations) * Double(job.batch.globalBatchSize) * Double(job.model.sequenceLength)
        let flops = tokens * job.model.flopsPerToken
        self.init(deviceHours: flops / (mfu * devicePeakFLOPs) / 3600, profile: profile)
        self.tokens = tokens
        modelFlops = flops
        self.mfu = mfu
        self.devicePeakFLOPs = devicePeakFLOPs
        tokenCost = TokenCost(tokens: tokens, energyKWh: energyKWh, operationalKg: operationalKg, embodiedKg: embodiedKg)
    }

    /// The peak FLOP/s per device an estimate assumes: the profile's, or when it says "detect",
    /// `measured()` (one core's sgemm: `atelier estimate` measures it, `atelier train` divides its
    /// rank's measurement by the rank's BLAS threads).
    public static func devicePeak(_ profile: ClusterProfile, measured: () -> Double) -> Double {
        profile.node.devicePeakFLOPs ?? measured()
    }

    /// What the ledger keeps of an estimate made from a job (nil for one from device-hours).
    public func record(jobID: String, at: Double) -> EstimateRecord? {
        guard let mfu, let devicePeakFLOPs, let tokens, let modelFlops else { return nil }
        return EstimateRecord(jobID: jobID, at: at, mfu: mfu, devicePeakFLOPs: devicePeakFLOPs, tokens: tokens, modelFlops: modelFlops,
                              deviceHours: deviceHours, energyKWh: energyKWh, operationalKg: operationalKg, embodiedKg: embodiedKg)
    }

    /// "off-site 12 L + on-site 3 L = 15 L", one part with what is missing, or "not known".
    func waterText(litres: (Double) -> String) -> String {
        switch (water.offsiteLitres, water.onsiteLitres) {
        case let (off?, on?): return "off-site \(litres(off)) L (grid) + on-site \(litres(on)) L (cooling) = \(litres(off + on)) L"
        case let (off?, nil): return "off-site \(litres(off)) L (grid); on-site not known (no site.wue in the profile)"
        case let (nil, on?): return "on-site \(litres(on)) L (cooling); off-site not known (no grid.water_l_per_kwh in the profile)"
        case (nil, nil): return water.includes
        }
    }

    public var text: String {
        func n(_ x: Double, _ digits: Int = 0) -> String {
            let f = NumberFormatter()
            f.numberStyle = .decimal
            f.minimumFractionDigits = digits; f.maximumFractionDigits = digits
            return f.string(from: NSNumber(value: x)) ?? "\(x)"
        }
        func mass(_ kg: Double) -> String {
            kg >= 1000 ? "\(n(kg / 1000, 2)) t" : kg >= 1 ? "\(n(kg, 3)) kg" : String(format: "%.4g kg", kg)
        }
        func kwh(_ x: Double) -> String { x >= 100 ? n(x) : String(format: "%.4g", x) }
        var lines: [String] = ["estimate on \(site)"]
        if let tokens, let modelFlops, let mfu, let devicePeakFLOPs {
            lines.append("compute: \(n(tokens)) tokens x \(String(format: "%.4g", modelFlops / tokens)) FLOP/token = \(String(format: "%.4g", modelFlops)) model FLOPs; at \(n(100 * mfu, 1))% MFU of \(String(format: "%.4g", devicePeakFLOPs / 1e12)) TFLOP/s per device")
        }
        lines += [
            "device-hours: \(n(deviceHours, deviceHours < 100 ? 3 : 0)) (\(n(nodeHours, 2)) node-hours)",
            "energy: dynamic \(kwh(dynamicKWh)) kWh + idle and infrastructure \(kwh(idleAndInfrastructureKWh)) kWh = \(kwh(energyKWh)) kWh (PUE \(pue) applied once, to the total)",
            "operational emissions at \(n(carbonIntensity, 1)) gCO2eq/kWh: dynamic \(mass(dynamicKg)) + idle and infrastructure \(mass(idleAndInfrastructureKg)) = \(mass(operationalKg))",
            "embodied emissions: devices \(mass(embodiedDevicesKg)) + servers \(mass(embodiedServersKg)) = \(mass(embodiedKg))",
            "total: \(mass(totalKg)) CO2eq",
            "water: " + waterText(litres: { n($0, $0 < 100 ? 3 : 0) }),
        ]
        if let tokenCost { lines.append("cost per token: \(tokenCost.text)") }
        return lines.joined(separator: "\n") + "\n"
    }
}

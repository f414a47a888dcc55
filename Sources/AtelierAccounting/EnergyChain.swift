
/// From what a node did to energy and emissions, with one profile's figures (docs/accounting.md):
///
///     IT energy   = CPU + GPU + RAM + static, each power x time, for the job's share of the node
///     energy      = IT energy x PUE                      (the only place PUE is applied)
///     emissions   = energy x grid carbon intensity
///     embodied    = device-hours x device LCA / used hours + server-hours x server LCA / used hours
public struct EnergyChain: Sendable {
    public let profile: ClusterProfile

    public init(profile: ClusterProfile) { self.profile = profile }

    /// `seconds` of one node running the job on `devicesUsed` of its devices (GPUs, or CPU cores),
    /// whose processes used `cpuSeconds` of CPU time; `cpuJoules` when a meter (RAPL) measured the
    /// CPU packages. GPUs are counted at their TDP (no GPU meter is read).
    public func node(seconds: Double, devicesUsed: Int, cpuSeconds: Double, cpuJoules: Double? = nil) -> AccountingTotals {
        let n = profile.node
        let share = min(1, Double(devicesUsed) / Double(max(1, n.devices)))
        var t = AccountingTotals()
        let cpuJ: Double
        if let cpuJoules {
            cpuJ = cpuJoules * share
        } else {
            let load = cpuSeconds / (max(seconds, 1e-9) * Double(n.cores))
            cpuJ = PowerModel.cpuWatts(tdp: n.cpuTDPWatts, load: load, share: share) * seconds
        }
        t.cpuKWh = cpuJ / 3.6e6
        t.gpuKWh = n.device == .gpu ? Double(min(devicesUsed, n.gpus)) * n.gpuTDPWatts * seconds / 3.6e6 : 0
        t.ramKWh = n.ramWatts * share * seconds / 3.6e6
        t.staticKWh = n.idleWatts * share * seconds / 3.6e6
        t.deviceSeconds = Double(devicesUsed) * seconds
        t.nodeSeconds = share * seconds
        return finish(t)
    }

    /// `deviceHours` of the profile's devices at full load, whole nodes: the chain of `atelier
    /// estimate` (and of the BLOOM paper, with the jean-zay profile).
    public func fullLoad(deviceHours: Double) -> AccountingTotals {
        let n = profile.node
        let nodeHours = deviceHours / Double(max(1, n.devices))
        var t = AccountingTotals()
        t.gpuKWh = n.device == .gpu ? deviceHours * n.gpuTDPWatts / 1000 : 0
        t.cpuKWh = nodeHours * n.cpuTDPWatts / 1000
        t.ramKWh = nodeHours * n.ramWatts / 1000
        t.staticKWh = nodeHours * n.idleWatts / 1000
        t.deviceSeconds = deviceHours * 3600
        t.nodeSeconds = nodeHours * 3600
        return finish(t)
    }

    /// Applies PUE, intensity and the embodied rates to IT energy and hours.
    func finish(_ t: AccountingTotals) -> AccountingTotals {
        var t = t
        t.energyKWh = t.itKWh * profile.pue
        t.emissionsKg = t.energyKWh * profile.carbonIntensity / 1000
        t.embodiedKg = embodiedDevicesKg(t) + embodiedServersKg(t)
        return t
    }

    public func embodiedDevicesKg(_ t: AccountingTotals) -> Double { t.deviceSeconds / 3600 * profile.embodied.perDeviceHour }
    public func embodiedServersKg(_ t: AccountingTotals) -> Double { t.nodeSeconds / 3600 * profile.embodied.perServerHour }

    /// The devices' dynamic draw (CPU, GPU, RAM at the plug), and everything else: static power
    /// with its PUE share plus the PUE share of the dynamic draw. They add up to `energyKWh`.
    public static func dynamicKWh(_ t: AccountingTotals) -> Double { t.cpuKWh + t.gpuKWh + t.ramKWh }
    public static func idleAndInfrastructureKWh(_ t: AccountingTotals) -> Double { t.energyKWh - dynamicKWh(t) }
}

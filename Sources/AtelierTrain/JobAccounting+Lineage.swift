import AtelierAccounting
import Foundation

extension JobAccounting {
    /// Rank 0: the lineage node of the model this job trains (docs/accounting.md, "Lineage"): who
    /// trained it, where, on what, how it was measured, on which data, and the models it started
    /// from. Its footprint is left to the checkpoint's totals.
    func lineage(ancestors: [Lineage], mixture: [MixtureShare]?) -> Lineage {
        let p = profile, n = profile.node
        let devices = devicesOnNode * nodes
        let hardware = n.device == .gpu
            ? "\(devices) x \(n.gpuModel) (\(Int(n.gpuTDPWatts)) W)" + (nodes > 1 ? " on \(nodes) nodes" : "")
            : "\(devices) CPU core\(devices == 1 ? "" : "s") of \(n.cpuModel)" + (nodes > 1 ? " on \(nodes) nodes" : "")
        let meter = accountant?.measuresEnergy == true ? "CPU energy from RAPL counters"
            : "CPU power modelled from utilisation (CodeCarbon 3.0's load model, \(n.cpuTDPWatts) W TDP)"
        let measurement = "\(meter); RAM \(String(format: "%.3g", n.ramWatts)) W and static \(n.idleWatts) W per node in proportion to the devices used"
            + (n.device == .gpu ? "; GPUs at their TDP" : "")
            + "; PUE \(p.pue); grid \(String(format: "%.4g", p.carbonIntensity)) gCO2eq/kWh (\(p.intensitySource))"
            + "; embodied \(p.embodied.deviceKg) kg per device and \(p.embodied.serverKg) kg per server over \(p.embodied.lifetimeYears) years at \(p.embodied.utilisation) utilisation"
        return Lineage(name: job.name, jobID: record?.id, workingGroup: job.workingGroup, site: p.site, location: p.country?.name,
                       hardware: hardware, measurement: measurement, mixture: mixture, ancestors: ancestors)
    }
}

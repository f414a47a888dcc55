import AtelierCore
import AtelierAccounting
import AtelierCheckpoint
import AtelierJob
import Foundation
import XCTest

final class EnergyChainTests: XCTestCase {
    /// 6N + 12LhT by hand for two shapes: the byte-level baseline's, and BLOOM-176B's.
    func testFlopsPerTokenByHand() {
        let quickstart = ModelShape(vocabSize: 320, hiddenSize: 192, layers: 6, heads: 6, sequenceLength: 128)
        // N = 6*12*192^2 + 320*192 = 2,654,208 + 61,440 = 2,715,648; 6N = 16,293,888; 12*6*192*128 = 1,769,472
        XCTAssertEqual(quickstart.flopsPerToken, 18_063_360)
        let bloom = ModelShape(vocabSize: 250_880, hiddenSize: 14_336, layers: 70, heads: 112, sequenceLength: 2048)
        // N = 70*12*14336^2 + 250880*14336 = 172,637,552,640 + 3,596,615,680 = 176,234,168,320
        // 6N = 1,057,405,009,920; 12*70*14336*2048 = 24,662,507,520
        XCTAssertEqual(bloom.flopsPerToken, 1_082_067_517_440)
    }

    func testCodeCarbonPowerModels() {
        XCTAssertEqual(PowerModel.cpuWatts(tdp: 100, load: 0.5), 50)
        XCTAssertEqual(PowerModel.cpuWatts(tdp: 100, load: 0.02), 10)      // the 10% floor
        XCTAssertEqual(PowerModel.cpuWatts(tdp: 100, load: 3), 100)         // load capped at 1
        XCTAssertEqual(PowerModel.cpuWatts(tdp: 100, load: 0, share: 0.25), 2.5)   // a quarter of the node, a quarter of the floor
        XCTAssertEqual(PowerModel.cpuWatts(tdp: 100, load: -1), 10)         // a negative load is no load
        XCTAssertEqual(PowerModel.ramWatts(gigabytes: 16), 10)              // 2 DIMMs
        XCTAssertEqual(PowerModel.ramWatts(gigabytes: 24), 20)              // 4 DIMMs
        XCTAssertEqual(PowerModel.ramWatts(gigabytes: 128), 5 * (4 + 0.9 * 4))   // 8 DIMMs
        XCTAssertEqual(PowerModel.ramWatts(gigabytes: 512), 5 * (4 + 0.9 * 4))             // 8 x 64 GB
        XCTAssertEqual(PowerModel.ramWatts(gigabytes: 2048), 5 * (4 + 0.9 * 4 + 0.8 * 8))   // 16 x 128 GB
        XCTAssertEqual(PowerModel.ramWatts(gigabytes: 1), 10)               // the 2-DIMM minimum
    }

    /// A node at synthetic utilisation, through the whole chain, against the numbers by hand.
    func testNodeChainOnSyntheticUtilisation() throws {
        let profile = try ClusterProfile.parse(text: ProfileTests.valid, file: "t.toml")
        let chain = EnergyChain(profile: profile)
        // 2 of 4 cores for 3600 s, the job's processes busy 2 x 0.75 x 3600 CPU-seconds: load 0.375 of the node.
        let t = chain.node(seconds: 3600, devicesUsed: 2, cpuSeconds: 2 * 0.75 * 3600)
        XCTAssertEqual(t.cpuKWh, 40 * 0.375 / 1000, accuracy: 1e-12)   // TDP x load, 1 h
        XCTAssertEqual(t.ramKWh, 10 * 0.5 / 1000, accuracy: 1e-12)     // half the node's RAM power
        XCTAssertEqual(t.staticKWh, 10 * 0.5 / 1000, accuracy: 1e-12)
        XCTAssertEqual(t.gpuKWh, 0)
        XCTAssertEqual(t.deviceSeconds, 7200)
        XCTAssertEqual(t.nodeSeconds, 1800)
        let it = 0.015 + 0.005 + 0.005
        XCTAssertEqual(t.energyKWh, it * 1.5, accuracy: 1e-12)          // PUE once
        XCTAssertEqual(t.emissionsKg, it * 1.5 * 0.1, accuracy: 1e-12)
        XCTAssertEqual(t.embodiedKg, 0.5 * 1000 / (5 * 8760 * 0.5), accuracy: 1e-12)   // half a server-hour
        XCTAssertEqual(EnergyChain.dynamicKWh(t) + EnergyChain.idleAndInfrastructureKWh(t), t.energyKWh, accuracy: 1e-15)
        // An idle job pays the CPU floor for its share of the node.
        let idle = chain.node(seconds: 3600, devicesUsed: 2, cpuSeconds: 0)
        XCTAssertEqual(idle.cpuKWh, 0.1 * 40 * 0.5 / 1000, accuracy: 1e-12)
        // A meter's reading replaces the model.
        let metered = chain.node(seconds: 3600, devicesUsed: 4, cpuSeconds: 0, cpuJoules: 3.6e6)
        XCTAssertEqual(metered.cpuKWh, 1, accuracy: 1e-12)
    }

    /// The BLOOM paper from its inputs (Luccioni et al., JMLR 2023), on cluster/jean-zay.toml.
    func testBloomReproduction() throws {
        let jz = try ClusterProfile.load(path: clusterDirectory.appendingPathComponent("jean-zay.toml").path)
        let e = Estimate(deviceHours: 1_082_990, profile: jz)
        XCTAssertEqual(e.dynamicKWh, 433_196, accuracy: 0.5)
        XCTAssertEqual(e.dynamicKg / 1000, 24.69, accuracy: 0.005)
        XCTAssertEqual(e.idleAndInfrastructureKWh, 256_646, accuracy: 1)
        XCTAssertEqual(e.idleAndInfrastructureKg / 1000, 14.6, accuracy: 0.05)
        XCTAssertEqual(e.embodiedDevicesKg / 1000, 3.64, accuracy: 0.005)
        XCTAssertEqual(e.embodiedServersKg / 1000, 7.57, accuracy: 0.01)
        XCTAssertEqual(e.embodiedKg / 1000, 11.2, accuracy: 0.05)
        XCTAssertEqual(e.totalKg / 1000, 50.5, accuracy: 0.05)
        XCTAssertEqual(e.energyKWh, (433_196 + e.nodeHours * 1.046527) * 1.2, accuracy: 1)   // PUE applied once
        XCTAssertTrue(e.text.contains("433,196 kWh"), e.text)
    }

    func testEstimateFromAJob() throws {
        let job = try Job.parse(text: """
            name = "e"
            working_group = "tokenization"
            [model]
            vocab_size = 320
            hidden_size = 192
            layers = 6
            heads = 6
            seq_length = 128
            [data]
            kind = "random"
            [batch]
            micro_batch_size = 8
            global_batch_size = 16
            [optimizer]
            lr = 1e-3
            [train]
            iterations = 500
            """, file: "e.toml")
        let profile = try ClusterProfile.parse(text: ProfileTests.valid, file: "t.toml")
        let e = Estimate(job: job, profile: profile, mfu: 0.5, devicePeakFLOPs: 1e11)
        XCTAssertEqual(e.tokens, 500 * 16 * 128)
        XCTAssertEqual(e.modelFlops, 500 * 16 * 128 * 18_063_360)
        XCTAssertEqual(e.deviceHours, 500 * 16 * 128 * 18_063_360 / (0.5 * 1e11) / 3600, accuracy: 1e-9)
        // full load: the node's CPU TDP per node-hour, RAM and static likewise, then PUE
        let nodeHours = e.deviceHours / 4
        XCTAssertEqual(e.energyKWh, nodeHours * (40 + 10 + 10) / 1000 * 1.5, accuracy: 1e-12)
        // per token: 18,063,360 FLOP / (0.5 x 1e11 FLOP/s) = 361 µs of a device, a quarter node at
        // 60 W x PUE 1.5: 90 W x 361.27 µs / 4 = 8.13 mJ per token, whatever the budget
        let cost = try XCTUnwrap(e.tokenCost)
        XCTAssertEqual(cost.joulesPerToken, 18_063_360 * 90 / 2e11, accuracy: 1e-12)
        XCTAssertEqual(cost.operationalGramsPerMillionTokens, 18_063_360 * 90 / 2e11 / 3.6e6 * 100 * 1e6, accuracy: 1e-9)   // 100 g/kWh
        XCTAssertTrue(e.text.contains("cost per token: 0.008129 J/token"), e.text)
    }
}

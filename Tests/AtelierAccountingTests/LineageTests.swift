import AtelierAccounting
import Foundation
import XCTest

final class LineageTests: XCTestCase {
    /// Figures that do not add up exactly in floating point in every order (0.1 + 0.2 != 0.3).
    let third = Footprint(tokens: 4096, deviceHours: 0.1, energyKWh: 0.2, operationalKg: 0.3, embodiedKg: 0.7)
    let second = Footprint(tokens: 2048, deviceHours: 0.2, energyKWh: 0.1, operationalKg: 0.6, embodiedKg: 1e-5)
    let first = Footprint(tokens: 1024, deviceHours: 1.0 / 3, energyKWh: 0.3, operationalKg: 0.1, embodiedKg: 2.5)

    func threeGenerations() -> Lineage {
        Lineage(name: "third", jobID: "c", workingGroup: "tests", site: "testsite", footprint: third, ancestors: [
            Lineage(name: "second", jobID: "b", footprint: second, ancestors: [Lineage(name: "first", jobID: "a", footprint: first)]),
        ])
    }

    /// Cumulative = own + parent + grandparent, each field summed in that order, exactly; the own
    /// footprint is the node's.
    func testCumulativeSumsEachFieldExactly() {
        let c = threeGenerations().cumulative
        XCTAssertTrue(c.isComplete)
        XCTAssertEqual(c.footprint.tokens, 4096 + 2048 + 1024)
        XCTAssertEqual(c.footprint.deviceHours, 0.1 + 0.2 + 1.0 / 3)
        XCTAssertEqual(c.footprint.energyKWh, 0.2 + 0.1 + 0.3)
        XCTAssertEqual(c.footprint.operationalKg, 0.3 + 0.6 + 0.1)
        XCTAssertEqual(c.footprint.embodiedKg, 0.7 + 1e-5 + 2.5)
        XCTAssertEqual(c.footprint.totalKg, (0.3 + 0.6 + 0.1) + (0.7 + 1e-5 + 2.5))
        XCTAssertEqual(threeGenerations().nodes.map(\.name), ["third", "second", "first"])
    }

    /// A model from elsewhere adds nothing and is named as excluded; a recorded figure with only
    /// some fields is excluded from the others.
    func testUnknownAncestorsAreExcludedNotZero() {
        var model = threeGenerations()
        model.ancestors[0].ancestors[0].ancestors = [.unknown("models/bloom-560m")]
        model.ancestors.append(Lineage(name: "published", footprint: Footprint(operationalKg: 0.5), source: "a paper"))
        let c = model.cumulative
        XCTAssertFalse(c.isComplete)
        XCTAssertEqual(c.footprint.operationalKg, 0.3 + 0.6 + 0.1 + 0.5)
        XCTAssertEqual(c.footprint.energyKWh, 0.2 + 0.1 + 0.3)
        XCTAssertEqual(c.excluded["operational_kgco2eq"], ["models/bloom-560m"])
        XCTAssertEqual(c.excluded["energy_kwh"], ["models/bloom-560m", "published"])
        XCTAssertNil(Lineage.unknown("x").cumulative.footprint.energyKWh, "nothing known sums to unknown, not 0")
        XCTAssertEqual(Lineage.unknown("x").cumulative.excluded["tokens"], ["x"])
    }

    /// JSON round-trips every figure bit for bit, and an unknown footprint stays absent.
    func testJSONRoundTripIsExact() throws {
        var model = threeGenerations()
        model.mixture = [MixtureShare(name: "de", share: 0.375), MixtureShare(name: "en", share: 0.625)]
        model.ancestors.append(.unknown("elsewhere"))
        let data = LineageFile.encode(model)
        XCTAssertEqual(try LineageFile.decode(data, origin: "test"), model)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"operational_kgco2eq\" : 0.3"), text)
        XCTAssertFalse(text.contains("\"footprint\" : null"), text)
    }

    /// Bad files are refused with the file and the node named.
    func testBadLineagesAreRefused() {
        func problem(_ json: String) -> String {
            do { _ = try LineageFile.decode(Data(json.utf8), origin: "dir/atelier-lineage.json"); return "accepted" } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(problem(#"{"name": "m", "ancestors": [{"name": "a", "ancestors": [], "footprint": {"energy_kwh": -1}}]}"#)
            .contains("dir/atelier-lineage.json: model.ancestors[0] 'a': energy_kwh is -1.0"))
        XCTAssertTrue(problem(#"{"name": "", "ancestors": []}"#).contains("empty name"))
        XCTAssertTrue(problem(#"{"ancestors": []}"#).contains("no 'name'"))
        XCTAssertTrue(problem(#"{"name": "m", "ancestors": [], "footprint": {"tokens": "many"}}"#).contains("wrong type"))
        XCTAssertTrue(problem(#"{"name": "m", "ancestors": [], "mixture": [{"name": "de", "share": 2}]}"#).contains("not in [0, 1]"))
        let deep = String(repeating: #"{"name": "m", "ancestors": ["#, count: 200) + String(repeating: "]}", count: 200)
        XCTAssertTrue(problem(deep).contains("deeper than 64 generations"))
        XCTAssertTrue(problem("not json").contains("not a lineage"))
    }

    /// A lineage file is written whole (a temporary renamed into place) and read back; a directory without one is nil.
    func testFileWriteAndRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-lineage-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertNil(try LineageFile.read(directory: dir))
        try LineageFile.write(threeGenerations(), directory: dir)
        XCTAssertEqual(try LineageFile.read(directory: dir), threeGenerations())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [LineageFile.name])
        XCTAssertThrowsError(try LineageFile.write(threeGenerations(), directory: dir + "/missing")) { error in
            XCTAssertEqual((error as? LineageError)?.isBadInput, false)
        }
    }

    /// The newest validation keeps finite results only and round-trips.
    func testNewestValidationRoundTrip() throws {
        let v = NewestValidation(iteration: 6, results: [ValidationRecord(dataset: "de", loss: 4.25, bitsPerByte: 1.5),
                                                         ValidationRecord(dataset: "en", loss: .nan, bitsPerByte: 2)])
        XCTAssertEqual(v.results.map(\.dataset), ["de"])
        XCTAssertEqual(try NewestValidation.decode(v.json, origin: "x"), v)
        XCTAssertThrowsError(try NewestValidation.decode(#"{"iteration": -1, "results": []}"#, origin: "ckpt.h5"))
    }
}

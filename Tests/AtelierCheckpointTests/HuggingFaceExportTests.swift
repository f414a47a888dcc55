import AtelierCheckpoint
import AtelierJob
import AtelierModel
import Foundation
import XCTest

final class HuggingFaceExportTests: XCTestCase {
    let shape = ModelShape(vocabSize: 270, hiddenSize: 24, layers: 2, heads: 3, sequenceLength: 12)
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-hf-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testExportImportRoundTripIsBitExact() throws {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 5)
        try HuggingFaceBloom.export(layout: model.layout, params: model.params, to: dir.path)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["model_type"] as? String, "bloom")
        XCTAssertEqual(config["n_layer"] as? Int, 2)
        XCTAssertEqual(config["n_head"] as? Int, 3)
        XCTAssertEqual(config["tie_word_embeddings"] as? Bool, true)
        let tensors = try Safetensors.read(path: dir.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(tensors.count, model.layout.tensors.count)
        XCTAssertEqual(tensors["transformer.h.1.self_attention.query_key_value.weight"]?.shape, [72, 24])
        let back = BloomModel(shape: shape)
        try HuggingFaceBloom.load(directory: dir.path, layout: back.layout, into: back.params)
        XCTAssertEqual(memcmp(model.params.base, back.params.base, model.params.bytes), 0)
        // another shape is refused by name
        let other = ParameterLayout(shape: ModelShape(vocabSize: 270, hiddenSize: 24, layers: 3, heads: 3, sequenceLength: 12))
        XCTAssertThrowsError(try HuggingFaceBloom.load(directory: dir.path, layout: other, into: FloatBuffer(count: other.count))) { error in
            XCTAssertTrue("\(error)".contains("config.json has n_layer 2 but the job's model has 3"), "\(error)")
        }
    }

    func testHostileSafetensorsHeadersAreRefused() throws {
        let path = dir.appendingPathComponent("x.safetensors").path
        func attempt(_ bytes: Data) -> String {
            try? bytes.write(to: URL(fileURLWithPath: path))
            do { _ = try Safetensors.read(path: path); return "loaded" } catch { return "\(error)" }
        }
        func file(_ header: String, dataBytes: Int) -> Data {
            var d = Data()
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
            d.append(Data(header.utf8))
            d.append(Data(count: dataBytes))
            return d
        }
        XCTAssertTrue(attempt(Data([1, 2, 3])).contains("shorter than its 8-byte header length"))
        var short = Data()
        withUnsafeBytes(of: UInt64(100).littleEndian) { short.append(contentsOf: $0) }
        XCTAssertTrue(attempt(short + Data("{}".utf8)).contains("header length 100 does not fit in a file of 10 bytes"))
        var huge = Data()
        withUnsafeBytes(of: UInt64.max.littleEndian) { huge.append(contentsOf: $0) }
        XCTAssertTrue(attempt(huge).contains("does not fit"))
        XCTAssertTrue(attempt(file("[1,2]", dataBytes: 0)).contains("not a JSON object"))
        XCTAssertTrue(attempt(file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,400]}}"#, dataBytes: 16)).contains("do not match shape"))
        let absurd = attempt(file(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#, dataBytes: 16))
        XCTAssertTrue(absurd.contains("tensor 'a'") && absurd != "loaded", absurd)
        XCTAssertTrue(attempt(file(#"{"a":{"dtype":"F32","shape":[3000000000,4],"data_offsets":[0,16]}}"#, dataBytes: 16)).contains("absurd shape"))
        XCTAssertTrue(attempt(file(#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#, dataBytes: 8)).contains("only F32"))
        XCTAssertTrue(attempt(file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                                   dataBytes: 16)).contains("overlap"))
        XCTAssertEqual(attempt(file(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, dataBytes: 16)), "loaded")
    }

    /// Where Python with torch and transformers is available (set ATELIER_TEST_PYTHON to its
    /// interpreter), `BloomForCausalLM.from_pretrained` on the export gives our logits within 1e-4.
    func testTransformersLoadsTheExportWithTheSameLogits() throws {
        let python = ProcessInfo.processInfo.environment["ATELIER_TEST_PYTHON"] ?? "python3"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import torch, transformers"]
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        try XCTSkipUnless(probe.terminationStatus == 0, "\(python) has no torch/transformers; set ATELIER_TEST_PYTHON")

        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 9)
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 4 }  // non-trivial logits
        let acts = Activations(shape: shape, batch: 1)
        acts.tokens = (0..<12).map { Int32(($0 * 37 + 5) % 270) }
        model.forward(acts)
        try HuggingFaceBloom.export(layout: model.layout, params: model.params, to: dir.path)
        let ours = (0..<(12 * 270)).map { Double(acts.logits[$0]) }
        try JSONSerialization.data(withJSONObject: ["tokens": acts.tokens.map(Int.init), "logits": ours])
            .write(to: dir.appendingPathComponent("ours.json"))
        let script = """
        import json, sys, torch, transformers
        d = json.load(open(sys.argv[1] + "/ours.json"))
        m = transformers.BloomForCausalLM.from_pretrained(sys.argv[1]).eval()
        with torch.no_grad():
            logits = m(torch.tensor([d["tokens"]])).logits[0].reshape(-1)
        print(float((logits - torch.tensor(d["logits"])).abs().max()))
        """
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        run.arguments = [python, "-c", script, dir.path]
        let out = Pipe()
        run.standardOutput = out
        try run.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0)
        let maxDifference = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .infinity
        XCTAssertLessThan(maxDifference, 1e-4, "largest logit difference from transformers")
    }
}

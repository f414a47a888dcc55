import AtelierCore
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

    let tokens = SpecialTokenIDs(bos: 1, eos: 2, pad: 3)

    @discardableResult
    func export(_ model: BloomModel, dtype: TensorDType = .f32, maxShardBytes: Int = HuggingFaceExport.defaultMaxShardBytes) throws -> HuggingFaceExport.Written {
        try HuggingFaceExport.write(layout: model.layout, params: model.params, config: HuggingFaceConfig(shape: shape, tokens: tokens),
                                    dtype: dtype, maxShardBytes: maxShardBytes, to: dir.path)
    }

    func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(name))) as! [String: Any]
    }

    func testExportImportRoundTripIsBitExact() throws {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 5)
        try export(model)
        let config = try json("config.json")
        XCTAssertEqual(config["model_type"] as? String, "bloom")
        XCTAssertEqual(config["n_layer"] as? Int, 2)
        XCTAssertEqual(config["n_head"] as? Int, 3)
        XCTAssertEqual(config["tie_word_embeddings"] as? Bool, true)
        XCTAssertEqual(config["torch_dtype"] as? String, "float32")
        for file in ["config.json", "generation_config.json"] {
            let c = try json(file)
            XCTAssertEqual([c["bos_token_id"] as? Int, c["eos_token_id"] as? Int, c["pad_token_id"] as? Int], [1, 2, 3], file)
        }
        let file = try SafetensorsFile(path: dir.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(file.entries.count, model.layout.tensors.count)
        XCTAssertEqual(file.entries["transformer.h.1.self_attention.query_key_value.weight"]?.shape, [72, 24])
        let back = BloomModel(shape: shape)
        try HuggingFaceWeights.load(directory: dir.path, layout: back.layout, into: back.params)
        XCTAssertEqual(memcmp(model.params.base, back.params.base, model.params.bytes), 0)
        XCTAssertEqual(try HuggingFaceConfig(directory: dir.path), HuggingFaceConfig(shape: shape, tokens: tokens))
        // another shape is refused by name
        let other = ParameterLayout(shape: ModelShape(vocabSize: 270, hiddenSize: 24, layers: 3, heads: 3, sequenceLength: 12))
        XCTAssertThrowsError(try HuggingFaceWeights.load(directory: dir.path, layout: other, into: FloatBuffer(count: other.count))) { error in
            XCTAssertTrue("\(error)".contains("config.json has n_layer 2 but the job's model has 3"), "\(error)")
        }
    }

    /// bf16 and f16 exports round each weight to nearest even; loading widens exactly, so the round
    /// trip gives the rounded weights, and a sharded export splits as transformers does.
    func testHalfPrecisionShardedExportRoundsAndShards() throws {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 6)
        for dtype in [TensorDType.bf16, .f16] {
            let limit = 4000   // bytes: the 270 x 24 embedding (12,960 bytes) alone passes it
            let written = try export(model, dtype: dtype, maxShardBytes: limit)
            let shards = written.files.filter { $0.hasSuffix(".safetensors") }
            XCTAssertGreaterThan(shards.count, 2)
            XCTAssertEqual(shards.first, String(format: "model-00001-of-%05d.safetensors", shards.count))
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path))
            let index = try json("model.safetensors.index.json")
            let map = index["weight_map"] as! [String: String]
            XCTAssertEqual(Set(map.keys), Set(model.layout.tensors.map(\.name)))
            XCTAssertEqual((index["metadata"] as! [String: Any])["total_size"] as? Int, model.layout.count * 2)
            for shard in shards {
                let file = try SafetensorsFile(path: dir.appendingPathComponent(shard).path)
                let bytes = file.entries.values.reduce(0) { $0 + $1.byteRange.count }
                XCTAssertTrue(bytes <= limit || file.entries.count == 1, "\(shard) holds \(bytes) bytes in \(file.entries.count) tensors")
                XCTAssertTrue(file.entries.values.allSatisfy { $0.dtype == dtype })
            }
            let back = BloomModel(shape: shape)
            try HuggingFaceWeights.load(directory: dir.path, layout: back.layout, into: back.params)
            var maxRelative: Float = 0
            for i in 0..<model.params.count {
                let x = model.params[i]
                let rounded = dtype == .bf16 ? TensorDType.widenBF16(TensorDType.narrowBF16(x)) : TensorDType.widenF16(TensorDType.narrowF16(x))
                XCTAssertEqual(back.params[i].bitPattern, rounded.bitPattern, "\(dtype) element \(i)")
                if abs(x) > 1e-4 { maxRelative = max(maxRelative, abs(back.params[i] - x) / abs(x)) }
            }
            XCTAssertLessThanOrEqual(maxRelative, dtype == .bf16 ? 1.0 / 256 : 1.0 / 2048)
            XCTAssertGreaterThan(maxRelative, 0, "\(dtype) rounding changed nothing: is the export really \(dtype)?")
            XCTAssertEqual(try json("config.json")["torch_dtype"] as? String, dtype.torchName)
        }
        // exporting unsharded over a sharded export leaves no stale shards behind
        try export(model)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, ["config.json", "generation_config.json", "model.safetensors"])
    }

    func testPickleOnlyAndBrokenDirectoriesAreRefusedWithAdvice() throws {
        let model = BloomModel(shape: shape)
        try export(model)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("pytorch_model.bin").path, contents: Data([0x80, 0x02]))
        XCTAssertThrowsError(try HuggingFaceWeights.load(directory: dir.path, layout: model.layout, into: model.params)) { error in
            XCTAssertTrue("\(error)".contains("pytorch_model.bin (PyTorch pickle)") && "\(error)".contains("safe_serialization=True"), "\(error)")
        }
        // an index naming a tensor its shard lacks
        try export(model, maxShardBytes: 4000)
        var index = try json("model.safetensors.index.json")
        var map = index["weight_map"] as! [String: String]
        map["transformer.ln_f.weight"] = String(format: "model-00001-of-%05d.safetensors", Set(map.values).count)   // it is in the last
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertThrowsError(try HuggingFaceWeights.load(directory: dir.path, layout: model.layout, into: model.params)) { error in
            XCTAssertTrue("\(error)".contains("puts 'transformer.ln_f.weight' in model-00001"), "\(error)")
        }
        // configs atelier cannot honour
        for (key, value, expected) in [("apply_residual_connection_post_layernorm", true as Any, "apply_residual_connection_post_layernorm is true"),
                                       ("tie_word_embeddings", false as Any, "tie_word_embeddings is false"),
                                       ("model_type", "gpt2" as Any, "model_type is \"gpt2\""),
                                       ("n_head", 5 as Any, "not a multiple of n_head 5"),
                                       ("vocab_size", -1 as Any, "vocab_size is -1")] {
            var config = HuggingFaceConfig(shape: shape, tokens: tokens).configJSON(dtype: .f32)
            config[key] = value
            try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
            XCTAssertThrowsError(try HuggingFaceConfig(directory: dir.path)) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
        XCTAssertThrowsError(try HuggingFaceConfig(directory: dir.path + "/nowhere")) { XCTAssertTrue("\($0)".contains("no config.json"), "\($0)") }
    }

    func testShardSizesParseAsTransformersReadsThem() {
        XCTAssertEqual(HuggingFaceExport.parseSize("5GB"), 5_000_000_000)
        XCTAssertEqual(HuggingFaceExport.parseSize("2GiB"), 2 << 30)
        XCTAssertEqual(HuggingFaceExport.parseSize("500MB"), 500_000_000)
        XCTAssertEqual(HuggingFaceExport.parseSize("1234"), 1234)
        XCTAssertNil(HuggingFaceExport.parseSize("lots"))
        XCTAssertNil(HuggingFaceExport.parseSize("-5GB"))
        XCTAssertNil(HuggingFaceExport.parseSize("1e300GB"))
    }

    func testHostileSafetensorsHeadersAreRefused() throws {
        let path = dir.appendingPathComponent("x.safetensors").path
        func attempt(_ bytes: Data) -> String {
            try? bytes.write(to: URL(fileURLWithPath: path))
            do { _ = try SafetensorsFile(path: path); return "loaded" } catch { return "\(error)" }
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
        XCTAssertTrue(attempt(file(#"{"a":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}}"#, dataBytes: 8)).contains("F32, F16 and BF16 are read"))
        XCTAssertTrue(attempt(file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                                   dataBytes: 16)).contains("overlap"))
        XCTAssertEqual(attempt(file(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, dataBytes: 16)), "loaded")
    }

    /// ATELIER_TEST_PYTHON (else python3) if it imports `modules`; the test skips, saying so, if not.
    static func python(with modules: String, advice: String) throws -> String {
        let python = ProcessInfo.processInfo.environment["ATELIER_TEST_PYTHON"] ?? "python3"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import " + modules]
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        try XCTSkipUnless(probe.terminationStatus == 0, "\(python) lacks \(modules) (\(advice)); set ATELIER_TEST_PYTHON to a Python that has them")
        return python
    }

    /// A directory written without atelier: shards by the `safetensors` package (F16, from NumPy)
    /// and by hand (BF16, which NumPy lacks: the upper 16 bits, rounded to nearest even), an index
    /// and a config, tensor names without the "transformer." prefix as the Hub's BLOOMs have them.
    /// Loading gives NumPy's own widening of each value, bit for bit. Needs a Python with numpy
    /// and safetensors (.ci/run installs them).
    func testReadsShardsWrittenBySafetensorsAndNumPy() throws {
        let python = try Self.python(with: "numpy, safetensors.numpy", advice: ".ci/run installs them")
        let layout = ParameterLayout(shape: shape)
        let names = layout.tensors.map { ["name": $0.name, "shape": $0.shape] as [String: Any] }
        try JSONSerialization.data(withJSONObject: ["tensors": names, "config": HuggingFaceConfig(shape: shape, tokens: tokens).configJSON(dtype: .bf16)])
            .write(to: dir.appendingPathComponent("spec.json"))
        let script = """
        import json, sys, numpy as np
        from safetensors.numpy import save_file
        d = sys.argv[1]
        spec = json.load(open(d + "/spec.json"))
        json.dump(spec["config"], open(d + "/config.json", "w"))
        rng = np.random.default_rng(7)
        expected, half, brain, weight_map = [], {}, {}, {}
        for i, t in enumerate(spec["tensors"]):
            name = t["name"].removeprefix("transformer.")
            x = (rng.standard_normal(t["shape"]) * 0.5).astype(np.float32)
            if i % 2 == 0:
                half[name] = x.astype(np.float16)
                expected.append(half[name].astype(np.float32))
                weight_map[name] = "model-00001-of-00002.safetensors"
            else:
                u = x.view(np.uint32).astype(np.uint64)
                b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
                brain[name] = (t["shape"], b)
                expected.append((b.astype(np.uint32) << 16).view(np.float32))
                weight_map[name] = "model-00002-of-00002.safetensors"
        save_file(half, d + "/model-00001-of-00002.safetensors")
        header, offset = {}, 0
        for name, (shape, b) in brain.items():
            header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + b.nbytes]}
            offset += b.nbytes
        h = json.dumps(header).encode()
        with open(d + "/model-00002-of-00002.safetensors", "wb") as f:
            f.write(len(h).to_bytes(8, "little") + h)
            for _, (_, b) in brain.items():
                f.write(b.astype("<u2").tobytes())
        json.dump({"metadata": {}, "weight_map": weight_map}, open(d + "/model.safetensors.index.json", "w"))
        np.concatenate([e.reshape(-1) for e in expected]).astype("<f4").tofile(d + "/expected.f32")
        """
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        run.arguments = [python, "-c", script, dir.path]
        try run.run()
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0)
        let params = FloatBuffer(count: layout.count)
        let unused = try HuggingFaceWeights.load(directory: dir.path, layout: layout, into: params)
        XCTAssertEqual(unused, [])
        let expected = try Data(contentsOf: dir.appendingPathComponent("expected.f32"))
        XCTAssertEqual(expected.count, params.bytes)
        XCTAssertEqual(expected.withUnsafeBytes { memcmp($0.baseAddress!, params.base, params.bytes) }, 0, "widened values differ from NumPy's")
        XCTAssertEqual(try HuggingFaceConfig(directory: dir.path).tokens, tokens)
    }

    /// Where Python with torch and transformers is available (set ATELIER_TEST_PYTHON to its
    /// interpreter), `BloomForCausalLM.from_pretrained` on the export gives our logits within 1e-4.
    func testTransformersLoadsTheExportWithTheSameLogits() throws {
        let python = try Self.python(with: "torch, transformers", advice: "too large for CI; install them elsewhere")

        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 9)
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 4 }  // non-trivial logits
        let acts = Activations(shape: shape, batch: 1)
        acts.tokens = (0..<12).map { Int32(($0 * 37 + 5) % 270) }
        model.forward(acts)
        try export(model)
        let ours = model.logits(acts, rows: 0..<12).map(Double.init)
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

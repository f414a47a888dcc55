import AtelierTokenizer
import Foundation
import XCTest

/// A multilingual sample: Latin, Cyrillic, Greek, CJK, Arabic, Devanagari, emoji, combining marks.
let sample = [
    ("The quick brown fox jumps over the lazy dog. It was a bright cold day in April, and the clocks were striking thirteen.", "en"),
    ("Le vif renard brun saute par-dessus le chien paresseux. C'était une journée d'avril froide et claire.", "fr"),
    ("Der schnelle braune Fuchs springt über den faulen Hund. Es war ein klarer, kalter Tag im April.", "de"),
    ("Быстрая коричневая лиса прыгает через ленивую собаку. Был холодный ясный апрельский день.", "ru"),
    ("Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.", "el"),
    ("敏捷的棕色狐狸跳过了懒狗。这是四月里一个晴朗寒冷的日子，钟敲了十三下。", "zh"),
    ("素早い茶色の狐がのろまな犬を飛び越える。四月の晴れた寒い日だった、時計が十三時を打っていた。", "ja"),
    ("الثعلب البني السريع يقفز فوق الكلب الكسول، كان يوما باردا مشرقا من أيام أبريل۔", "ar"),
    ("तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है। अप्रैल का एक ठंडा दिन था।", "hi"),
    ("Emoji 🙂🚀👩‍🔬 and combining e\u{301} a\u{308} n\u{303}; tabs\tand\nnewlines  double  spaces… (parens) | pipes!", "mixed"),
]

final class TokenizerTests: XCTestCase {
    static let trained: BPETokenizer = {
        let docs = (0..<20).flatMap { i in sample.map { (text: "\($0.0) \(i)", language: Optional($0.1)) } }
        return try! BPETrainer(vocabularySize: 700).train(documents: docs)
    }()

    func pieces(_ s: String) -> [String] {
        var s = s
        var out: [String] = []
        s.withUTF8 { u in BloomPreTokenizer.split(u) { out.append(String(decoding: u[$0], as: UTF8.self)) } }
        return out
    }

    func testBloomPreTokenizer() {
        XCTAssertEqual(pieces("Hello, world!"), ["Hello", ",", " world", "!"])
        XCTAssertEqual(pieces("a  b"), ["a", " ", " b"])
        XCTAssertEqual(pieces("(x) y|z"), ["(", "x", ")", " y", "|", "z"])
        XCTAssertEqual(pieces("你好。世界，再见、"), ["你好", "。", "世界", "，", "再见", "、"])
        XCTAssertEqual(pieces("नमस्ते। दुनिया"), ["नमस्ते", "।", " दुनिया"])
        XCTAssertEqual(pieces(" \n\tx"), [" \n\t", "x"])
        XCTAssertEqual(pieces("wait…"), ["wait", "…"])
        XCTAssertEqual(pieces("a\u{3000}b\u{A0}c"), ["a", "\u{3000}", "b", "\u{A0}", "c"])
        XCTAssertEqual(pieces(""), [])
        XCTAssertEqual(pieces(" "), [" "])
    }

    func testTrainedVocabularyHasBLOOMsLayout() {
        let t = Self.trained
        XCTAssertEqual(t.vocabularySize, 700)
        XCTAssertEqual(t.specials, ["<unk>", "<s>", "</s>", "<pad>"])
        XCTAssertEqual(t.specialIDs, [0, 1, 2, 3])
        XCTAssertGreaterThanOrEqual(t.merges.count, 700 - 4 - 256)
        XCTAssertLessThan(t.encode(sample[0].0).count, sample[0].0.utf8.count / 2)   // it learned something
        XCTAssertEqual(t.encode("<s>hi</s>").first, 1)
        XCTAssertEqual(t.encode("<s>hi</s>").last, 2)
    }

    /// decode(encode(x)) == x for random strings drawn from many scripts, marks, emoji and spaces.
    func testRoundTripProperty() {
        let t = Self.trained
        let alphabet: [String] = Array(sample.map(\.0).joined()).map(String.init)
            + ["\u{301}", "\u{308}", "\u{200D}", "🧪", "𝔘", "\u{FEFF}", "\r\n", " ", "  ", "\t", "<s>", "</s>", "<pad>", "<", ">", "'", "\u{10FFFF}"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            XCTAssertEqual(t.decode(t.encode(text)), text)
        }
        for (text, _) in sample { XCTAssertEqual(t.decode(t.encode(text)), text) }
    }

    func testTokenizerJSONRoundTrip() throws {
        let t = Self.trained
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(getpid()).json").path
        defer { unlink(path) }
        try t.save(to: path)
        let loaded = try BPETokenizer.load(path: path)
        XCTAssertEqual(loaded.vocabularySize, t.vocabularySize)
        for (text, _) in sample { XCTAssertEqual(loaded.encode(text), t.encode(text)) }
        // hostile or foreign files: clear errors naming the file
        for (content, expected) in [
            ("[1,2]", "not a JSON object"),
            ("{\"model\": {\"type\": \"WordPiece\"}}", "model.type"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "pre_tokenizer"),
        ] {
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try BPETokenizer.load(path: path)) { e in
                XCTAssertTrue("\(e)".contains(path) && "\(e)".contains(expected), "\(e)")
            }
        }
        var object = t.jsonObject()
        var model = object["model"] as! [String: Any]
        model["merges"] = ["Ġ nosuchtoken"]
        object["model"] = model
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try BPETokenizer.load(path: path)) { e in XCTAssertTrue("\(e)".contains("model.merges[0]"), "\(e)") }
    }

    /// BLOOM's published tokenizer.json differs from ours outside the BPE itself: a ByteLevel
    /// post-processor (add_prefix_space true, trim_offsets false), decoder options, no padding or
    /// truncation block and `unk_token: null`. None of these change ids, and the file loads.
    func testBloomsOwnLayoutLoads() throws {
        var object = Self.trained.jsonObject()
        object["post_processor"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": false]
        object["decoder"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": false]
        object.removeValue(forKey: "padding")
        object.removeValue(forKey: "truncation")
        var model = object["model"] as! [String: Any]
        model["unk_token"] = NSNull()
        model.removeValue(forKey: "ignore_merges")
        object["model"] = model
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bloom-layout-\(getpid()).json").path
        defer { unlink(path) }
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        let loaded = try BPETokenizer.load(path: path)
        XCTAssertEqual(loaded.vocabularySize, Self.trained.vocabularySize)
        XCTAssertEqual(loaded.specialID("</s>"), 2)
        XCTAssertEqual(loaded.specialID("<pad>"), 3)
        XCTAssertNil(loaded.specialID("<mask>"))
        for (text, _) in sample { XCTAssertEqual(loaded.encode(text), Self.trained.encode(text), text) }
    }

    /// Hugging Face `tokenizers` loads our tokenizer.json and gives the same ids, and we load one
    /// it trained with BLOOM's configuration (and post-processor) and give its ids. Needs a Python
    /// with `tokenizers` (ATELIER_TEST_PYTHON, else python3; .ci/run installs it).
    func testHuggingFaceTokenizersAgree() throws {
        let python = ProcessInfo.processInfo.environment["ATELIER_TEST_PYTHON"] ?? "python3"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import tokenizers"]
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        try XCTSkipUnless(probe.terminationStatus == 0, "\(python) lacks the tokenizers package (.ci/run installs it); set ATELIER_TEST_PYTHON to a Python that has it")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-hf-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ours = dir.appendingPathComponent("ours.json").path
        try Self.trained.save(to: ours)
        let texts = sample.map(\.0) + ["<s>hello</s> world", "", "  leading", "trailing  ", "x\u{3000}y…z"]
        try JSONSerialization.data(withJSONObject: texts).write(to: dir.appendingPathComponent("texts.json"))
        let script = """
        import json, sys
        from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders, processors, Regex
        d = sys.argv[1]
        texts = json.load(open(d + "/texts.json"))
        ours = Tokenizer.from_file(d + "/ours.json")
        out = {"ours": [ours.encode(t).ids for t in texts], "decoded": [ours.decode(ours.encode(t).ids) for t in texts]}
        hf = Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(" ?[^(\\\\s|[.,!?…。，、।۔،])]+"), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        hf.train_from_iterator(texts * 10, trainer)
        hf.post_processor = processors.ByteLevel(trim_offsets=False)   # BLOOM's own file has one
        hf.save(d + "/theirs.json")
        out["theirs"] = [hf.encode(t).ids for t in texts]
        json.dump(out, open(d + "/out.json", "w"))
        """
        try script.write(to: dir.appendingPathComponent("check.py"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, dir.appendingPathComponent("check.py").path, dir.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let out = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out.json"))) as! [String: Any]
        let theirIDsOfOurs = out["ours"] as! [[Int]]
        let decoded = out["decoded"] as! [String]
        for (i, text) in texts.enumerated() {
            XCTAssertEqual(Self.trained.encode(text).map(Int.init), theirIDsOfOurs[i], text)
            if !text.contains("<s>") { XCTAssertEqual(decoded[i], text) }
        }
        let theirs = try BPETokenizer.load(path: dir.appendingPathComponent("theirs.json").path)
        let theirIDs = out["theirs"] as! [[Int]]
        for (i, text) in texts.enumerated() { XCTAssertEqual(theirs.encode(text).map(Int.init), theirIDs[i], text) }
    }
}

import Foundation

/// Hugging Face's tokenizer.json for a BLOOM-style tokenizer: model BPE over the byte-level
/// alphabet, no normaliser, pre-tokenizer Sequence[Split(BLOOM's regex, Isolated),
/// ByteLevel(add_prefix_space false, use_regex false)], ByteLevel decoder, the special tokens as
/// added tokens. `tokenizers` and transformers load what `save` writes; `load` reads files of this
/// kind (BLOOM's own among them) and refuses others, naming what differs.
extension BPETokenizer {
    public static let bloomPattern = " ?[^(\\s|[.,!?…。，、।۔،])]+"

    public func jsonObject() -> [String: Any] {
        var vocab: [String: Int] = [:]
        let specialSet = Set(specialIDs)
        for (id, bytes) in tokens.enumerated() {
            vocab[specialSet.contains(Int32(id)) ? String(decoding: bytes, as: UTF8.self) : ByteLevel.encode(bytes)] = id
        }
        let mergeStrings = merges.map { ByteLevel.encode(tokens[Int($0.0)]) + " " + ByteLevel.encode(tokens[Int($0.1)]) }
        let added: [[String: Any]] = zip(specials, specialIDs).map { content, id in
            ["id": Int(id), "content": content, "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true]
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]
        return [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": added,
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": Self.bloomPattern], "behavior": "Isolated", "invert": false],
                byteLevel,
            ]],
            "post_processor": byteLevel,
            "decoder": byteLevel,
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": mergeStrings],
        ]
    }

    /// Writes tokenizer.json atomically (a temporary file renamed into place).
    public func save(to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: jsonObject(), options: [.sortedKeys])
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw TokenizerError.badFile(path: path, problem: "cannot be written: \((error as NSError).localizedDescription)")
        }
    }

    public static func load(path: String) throws -> BPETokenizer {
        func bad(_ problem: String) -> TokenizerError { TokenizerError.badFile(path: path, problem: problem) }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int else { throw bad("no such file") }
        guard size <= 1 << 30 else { throw bad("is \(size) bytes; a tokenizer.json is at most 1 GiB") }
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw bad("is not a JSON object")
        }
        guard let model = root["model"] as? [String: Any] else { throw bad("has no \"model\"") }
        guard (model["type"] as? String) == "BPE" else { throw bad("model.type is \(model["type"] ?? "missing"), expected \"BPE\"") }
        guard root["normalizer"] == nil || root["normalizer"] is NSNull else {
            throw bad("has a normalizer; BLOOM's recipe has none, and atelier implements no other")
        }
        try checkPreTokenizer(root["pre_tokenizer"], bad)
        guard let vocab = model["vocab"] as? [String: Int] else { throw bad("model.vocab is not an object of token -> id") }
        guard vocab.count <= 1 << 24 else { throw bad("model.vocab has \(vocab.count) tokens; at most 16M are accepted") }
        var specials: [(String, Int32)] = []
        for (i, item) in ((root["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
            guard let id = item["id"] as? Int, let content = item["content"] as? String, id >= 0, id < 1 << 24 else {
                throw bad("added_tokens[\(i)] needs an id and a content")
            }
            specials.append((content, Int32(id)))
        }
        let count = max(vocab.values.max() ?? -1, specials.map { Int($0.1) }.max() ?? -1) + 1
        // ids run from 0 without gaps, so none can reach past the number of tokens (found by fuzzing:
        // one huge id would otherwise size the table)
        guard count <= vocab.count + specials.count else {
            throw bad("has a token id of \(count - 1) among \(vocab.count + specials.count) tokens; ids must run from 0 without gaps")
        }
        var tokens = [[UInt8]?](repeating: nil, count: count)
        let specialByID = Dictionary(specials.map { ($0.1, $0.0) }, uniquingKeysWith: { a, _ in a })
        for (text, id) in vocab {
            guard id >= 0 else { throw bad("model.vocab: token \(text) has a negative id") }
            if let special = specialByID[Int32(id)] {
                tokens[id] = Array(special.utf8)
            } else {
                guard let bytes = ByteLevel.decode(text) else { throw bad("model.vocab: token \"\(text)\" is not in the byte-level alphabet") }
                tokens[id] = bytes
            }
        }
        for (content, id) in specials where tokens[Int(id)] == nil { tokens[Int(id)] = Array(content.utf8) }
        if let missing = tokens.firstIndex(where: { $0 == nil }) {
            throw bad("model.vocab has no token with id \(missing); ids must run from 0 without gaps")
        }
        return try build(tokens: tokens.compactMap { $0 }, model: model, specials: specials, bad)
    }

    private static func build(tokens: [[UInt8]], model: [String: Any], specials: [(String, Int32)],
                              _ bad: (String) -> TokenizerError) throws -> BPETokenizer {
        var idOf: [[UInt8]: Int32] = [:]
        for (id, t) in tokens.enumerated() where idOf[t] == nil { idOf[t] = Int32(id) }
        var pairs: [(String, String)] = []
        switch model["merges"] {
        case let strings as [String]:
            for (i, s) in strings.enumerated() {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw bad("model.merges[\(i)] \"\(s)\" is not two tokens separated by a space") }
                pairs.append((String(parts[0]), String(parts[1])))
            }
        case let arrays as [[String]]:
            for (i, a) in arrays.enumerated() {
                guard a.count == 2 else { throw bad("model.merges[\(i)] is not a pair") }
                pairs.append((a[0], a[1]))
            }
        case nil, is NSNull: break
        default: throw bad("model.merges is neither strings nor pairs")
        }
        var merges: [(Int32, Int32)] = []
        merges.reserveCapacity(pairs.count)
        for (i, (a, b)) in pairs.enumerated() {
            guard let ba = ByteLevel.decode(a), let bb = ByteLevel.decode(b), let l = idOf[ba], let r = idOf[bb] else {
                throw bad("model.merges[\(i)] \"\(a) \(b)\" names a token that is not in the vocabulary")
            }
            merges.append((l, r))
        }
        do {
            return try BPETokenizer(tokens: tokens, merges: merges, specials: specials)
        } catch let TokenizerError.badTraining(problem) {
            throw bad(problem)
        }
    }

    private static func checkPreTokenizer(_ value: Any?, _ bad: (String) -> TokenizerError) throws {
        let expected = "pre_tokenizer: atelier implements BLOOM's (Sequence of Split(\(bloomPattern), Isolated) and ByteLevel without prefix space or regex)"
        guard let p = value as? [String: Any], (p["type"] as? String) == "Sequence",
              let steps = p["pretokenizers"] as? [[String: Any]], steps.count == 2,
              (steps[0]["type"] as? String) == "Split",
              ((steps[0]["pattern"] as? [String: Any])?["Regex"] as? String) == bloomPattern,
              (steps[0]["behavior"] as? String) == "Isolated", (steps[0]["invert"] as? Bool) != true,
              (steps[1]["type"] as? String) == "ByteLevel", (steps[1]["add_prefix_space"] as? Bool) == false,
              (steps[1]["use_regex"] as? Bool) == false else {
            throw bad(expected)
        }
    }
}

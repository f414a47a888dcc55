import ArgumentParser
import AtelierData
import AtelierTokenizer
import Foundation

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a byte-level BPE tokenizer (BLOOM's recipe), or measure its speed.",
        subcommands: [Train.self, Bench.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train on JSON lines ({\"text\", \"lang\"}) and write Hugging Face's tokenizer.json.")
        @Argument(help: "The corpus (JSON lines).") var corpus: String
        @Option(help: "Vocabulary size, special tokens and the 256 bytes included.") var vocabSize = 8192
        @Option(help: "Weight languages by p_i ~ n_i^alpha (0 < alpha <= 1); omit for the raw mixture.") var alpha: Double?
        @Option(help: "Where to write tokenizer.json.") var output = "data/tokenizer.json"

        func run() throws {
            do {
                let (documents, bad) = try JSONLinesReader.read(path: corpus)
                for line in bad.prefix(10) { FileHandle.standardError.write(Data("atelier: skipped \(line)\n".utf8)) }
                if bad.count > 10 { FileHandle.standardError.write(Data("atelier: ... \(bad.count) bad lines in all\n".utf8)) }
                guard !documents.isEmpty else { throw CLIError("\(corpus): no documents") }
                if let alpha, !(alpha > 0 && alpha <= 1) { throw CLIError("--alpha \(alpha): expected a number in (0, 1]") }
                let start = Date()
                let tokenizer = try BPETrainer(vocabularySize: vocabSize, alpha: alpha)
                    .train(documents: documents.map { ($0.text, $0.language) })
                try tokenizer.save(to: output)
                let bytes = documents.reduce(0) { $0 + $1.text.utf8.count }
                print("trained \(tokenizer.vocabularySize) tokens on \(documents.count) documents (\(String(format: "%.1f", Double(bytes) / 1e6)) MB) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; wrote \(output)")
            } catch {
                FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
                throw ExitCode(ExitStatus.badInput.rawValue)
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode throughput (MB/s, one thread) on a corpus, beside Hugging Face tokenizers when a Python with it is given.")
        @Argument(help: "The corpus (JSON lines).") var corpus: String
        @Option(help: "The tokenizer.json.") var tokenizer = "data/tokenizer.json"
        @Option(help: "A Python with the tokenizers package, to measure it on the same text.") var python: String?
        @Option(help: "Repetitions; the best is kept.") var repeats = 3

        func run() throws {
            let documents = try JSONLinesReader.read(path: corpus).documents.map(\.text)
            let bytes = Double(documents.reduce(0) { $0 + $1.utf8.count })
            var best = Double.infinity
            var count = 0
            for _ in 0..<repeats {
                // a fresh tokenizer each time, so the piece cache starts empty as Hugging Face's does
                let fresh = try BPETokenizer.load(path: tokenizer)
                let start = DispatchTime.now().uptimeNanoseconds
                count = 0
                for d in documents { count += fresh.encode(d).count }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let ours = bytes / best / 1e6
            print(String(format: "atelier: %.2f MB/s (%.1f MB, %d tokens, best of %d)", ours, bytes / 1e6, count, repeats))
            guard let python else { return }
            let script = """
            import json, sys, time, os
            os.environ["RAYON_NUM_THREADS"] = "1"
            from tokenizers import Tokenizer
            docs = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
            best, count = 1e9, 0
            for _ in range(int(sys.argv[3])):
                tok = Tokenizer.from_file(sys.argv[2])
                t = time.perf_counter()
                count = sum(len(tok.encode(d).ids) for d in docs)
                best = min(best, time.perf_counter() - t)
            print(best, count)
            """
            let printed = try runPython(python, ["-c", script, corpus, tokenizer, "\(repeats)"],
                                        environment: ["RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"])
            let fields = printed.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
            guard fields.count == 2, let seconds = Double(fields[0]), let theirCount = Int(fields[1]) else {
                throw CLIError("\(python) could not run the tokenizers measurement")
            }
            let theirs = bytes / seconds / 1e6
            print(String(format: "Hugging Face tokenizers: %.2f MB/s (%d tokens); atelier / tokenizers = %.2f", theirs, theirCount, ours / theirs))
            if theirCount != count { print("warning: token counts differ (\(count) against \(theirCount))") }
        }
    }
}

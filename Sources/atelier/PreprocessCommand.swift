import ArgumentParser
import AtelierData
import AtelierTokenizer
import Foundation
import MPI
#if canImport(Glibc)
import Glibc
#endif

struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Tokenize JSON lines into Megatron-LM indexed datasets (.bin + .idx).",
        discussion: """
        Each line is an object with a string "text" and optionally "lang". Every document gets </s>
        appended. Bad lines (invalid UTF-8, not JSON, no "text") are reported with file and line,
        counted and skipped; above --max-bad-fraction nothing is written and the exit code is 2.
        Under mpirun -np N the documents are shared out in N contiguous blocks; rank 0 writes the
        output (PREFIX_text_document, or PREFIX_LANG_text_document with --by-language).
        """)

    @Argument(help: "The JSON-lines input.") var input: String
    @Option(help: "The tokenizer.json.") var tokenizer = "data/tokenizer.json"
    @Option(help: "Output prefix.") var outputPrefix = "data/corpus"
    @Flag(help: "One dataset per language (the \"lang\" field).") var byLanguage = false
    @Option(help: "Fail when more than this fraction of lines is bad.") var maxBadFraction = 0.01

    func run() throws {
        let comm: Communicator
        do { comm = try Communicator.world() } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        func fail(_ error: Error) -> Never {
            if comm.rank == 0 { FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8)) }
            Communicator.finalize()
            Glibc.exit(ExitStatus.badInput.rawValue)
        }
        let start = Date()
        let options = Preprocess.Options(input: input, tokenizer: tokenizer, outputPrefix: outputPrefix,
                                         byLanguage: byLanguage, maxBadFraction: maxBadFraction)
        let tok: BPETokenizer
        let documents: [JSONLinesReader.Document]
        do {
            tok = try BPETokenizer.load(path: tokenizer)
            let (docs, bad) = try JSONLinesReader.read(path: input)
            documents = docs
            let total = docs.count + bad.count
            if comm.rank == 0 {
                for line in bad.prefix(20) { FileHandle.standardError.write(Data("atelier: skipped \(line)\n".utf8)) }
                if bad.count > 20 { FileHandle.standardError.write(Data("atelier: ... \(bad.count) bad lines in all\n".utf8)) }
            }
            if total > 0 && Double(bad.count) / Double(total) > maxBadFraction {
                throw Preprocess.Failure.tooManyBadLines(file: input, bad: bad.count, total: total, examples: bad.prefix(5).map(\.description), limit: maxBadFraction)
            }
        } catch {
            fail(error)
        }
        guard let eodIndex = tok.specials.firstIndex(of: "</s>") else { fail(Preprocess.Failure.noEndOfDocument(tokenizer: tokenizer)) }
        let eod = tok.specialIDs[eodIndex]
        let lo = documents.count * comm.rank / comm.size, hi = documents.count * (comm.rank + 1) / comm.size
        let mine = Array(documents[lo..<hi])
        let showProgress = comm.rank == 0 && isatty(STDERR_FILENO) != 0
        let tokenizeStart = Date()
        let ids = try Preprocess.tokenize(mine, tokenizer: tok, eod: eod) { done in
            guard showProgress else { return }
            let fraction = Double(done) / Double(max(1, mine.count))
            let bar = String(repeating: "#", count: Int(fraction * 40)).padding(toLength: 40, withPad: ".", startingAt: 0)
            FileHandle.standardError.write(Data("\r[\(bar)] \(Int(fraction * 100))% of rank 0's \(mine.count) documents".utf8))
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        let tokenizeSeconds = Date().timeIntervalSince(tokenizeStart)
        let myBytes = mine.reduce(0) { $0 + $1.text.utf8.count }
        let part = outputPrefix + ".part-\(comm.rank)-of-\(comm.size).tmp"
        do {
            let directory = (outputPrefix as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            try Preprocess.writePart(part, documents: ids, languages: mine.map(\.language))
        } catch {
            FileHandle.standardError.write(Data("atelier: error: rank \(comm.rank): \(error)\n".utf8))
            comm.abort(code: 1)
        }
        var rates = [Double(myBytes) / max(tokenizeSeconds, 1e-9)]
        try? comm.allReduceSum(&rates)
        try? comm.barrier()
        if comm.rank == 0 {
            let parts = (0..<comm.size).map { outputPrefix + ".part-\($0)-of-\(comm.size).tmp" }
            defer { parts.forEach { unlink($0) } }
            do {
                let written = try Preprocess.join(parts: parts, options: options, type: .forVocabulary(tok.vocabularySize))
                for (prefix, docs, tokens) in written { print("\(prefix).bin/.idx: \(docs) documents, \(tokens) tokens") }
                let bytes = documents.reduce(0) { $0 + $1.text.utf8.count }
                print(String(format: "%d documents, %.1f MB on %d rank%@ in %.1f s; tokenizing at %.2f MB/s in all (%.2f MB/s per rank)",
                             documents.count, Double(bytes) / 1e6, comm.size, comm.size == 1 ? "" : "s", Date().timeIntervalSince(start),
                             rates[0] / 1e6, rates[0] / 1e6 / Double(comm.size)))
            } catch {
                fail(error)
            }
        }
        try? comm.barrier()
        Communicator.finalize()
    }
}

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
        counted and skipped; above --max-bad-fraction (of all ranks' lines) nothing is written and
        the exit code is 2. Memory stays bounded whatever the input's size: under mpirun -np N,
        rank r reads the r-th of N byte ranges of the input (cut at line starts), tokenizes it line
        by line into part files, and rank 0 joins the parts into the output (PREFIX_text_document,
        or PREFIX_LANG_text_document with --by-language), byte-identical to one rank's.
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
        let start = Date()
        let options = Preprocess.Options(input: input, tokenizer: tokenizer, outputPrefix: outputPrefix,
                                         byLanguage: byLanguage, maxBadFraction: maxBadFraction)
        let part = outputPrefix + ".part-\(comm.rank)-of-\(comm.size)"
        // 1. every rank: its byte range of the input into its part (errors agreed on below)
        var summary = Preprocess.PartSummary()
        var failure: Error?
        var tokenizeSeconds = 0.0, type = IndexedDataset.TokenType.uint16
        do {
            let tok = try BPETokenizer.load(path: tokenizer)
            guard let eod = tok.specialID("</s>") else { throw Preprocess.Failure.noEndOfDocument(tokenizer: tokenizer) }
            type = .forVocabulary(tok.vocabularySize)
            let range = try Preprocess.byteRange(rank: comm.rank, of: comm.size, path: input)
            let directory = (outputPrefix as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            let progress = ProgressBar(total: range.count, what: "of rank 0's \(String(format: "%.1f", Double(range.count) / 1e6)) MB",
                                       enabled: comm.rank == 0 && isatty(STDERR_FILENO) != 0)
            let tokenizeStart = Date()
            summary = try Preprocess.tokenize(range, options: options, tokenizer: tok, eod: eod, type: type,
                                              part: part, progress: progress.show)
            progress.end()
            tokenizeSeconds = Date().timeIntervalSince(tokenizeStart)
        } catch {
            failure = error
        }
        // 2. all ranks: counts, in rank order (line numbers and the bad-line share are global)
        enum Field: Int, CaseIterable { case failed, lines, bad, documents, tokens, textBytes }   // as gathered
        let counts: [UInt64]
        do {
            counts = try comm.allGather([failure.map { UInt64(ExitStatus.of($0).0.rawValue) } ?? 0] + summary.counts)
        } catch {
            FileHandle.standardError.write(Data("atelier: error: [rank \(comm.rank)] \(error)\n".utf8))
            end(comm, part: part, status: .failure)
        }
        func total(_ field: Field, before rank: Int? = nil) -> Int {
            (0..<(rank ?? comm.size)).reduce(0) { $0 + Int(counts[$1 * Field.allCases.count + field.rawValue]) }
        }
        if let failure {
            // the same input fails on every rank: rank 0 tells; a rank's own failure (its disk), that rank
            let everywhere = (0..<comm.size).allSatisfy { counts[$0 * Field.allCases.count] != 0 }
            if !everywhere || comm.rank == 0 {
                FileHandle.standardError.write(Data("atelier: error: \(everywhere || comm.size == 1 ? "" : "[rank \(comm.rank)] ")\(failure)\n".utf8))
            }
        }
        // bad input (2) or a failure to write (1): the worst any rank met, 2 before 1
        let failed = (0..<comm.size).map { Int32(counts[$0 * Field.allCases.count]) }.filter { $0 != 0 }
        if !failed.isEmpty { end(comm, part: part, status: ExitStatus(rawValue: failed.max()!) ?? .failure) }
        let bad = total(.bad), documents = total(.documents)
        reportBadLines(summary, comm: comm, lineOffset: total(.lines, before: comm.rank), shown: max(0, 20 - total(.bad, before: comm.rank)))
        if comm.rank == 0 && bad > 20 { FileHandle.standardError.write(Data("atelier: ... \(bad) bad lines in all\n".utf8)) }
        if documents + bad > 0 && Double(bad) / Double(documents + bad) > maxBadFraction {
            if comm.rank == 0 {
                let failure = Preprocess.Failure.tooManyBadLines(file: input, bad: bad, total: documents + bad, limit: maxBadFraction)
                FileHandle.standardError.write(Data("atelier: error: \(failure)\n".utf8))
            }
            end(comm, part: part, status: .badInput)
        }
        var rates = [Double(summary.textBytes) / max(tokenizeSeconds, 1e-9)]
        try? comm.allReduceSum(&rates)
        // 3. rank 0 joins the parts; every rank learns how that went before removing its part
        var status = [0.0]
        if comm.rank == 0 {
            do {
                let parts = (0..<comm.size).map { outputPrefix + ".part-\($0)-of-\(comm.size)" }
                for (prefix, docs, tokens) in try Preprocess.join(parts: parts, options: options, type: type) {
                    print("\(prefix).bin/.idx: \(docs) documents, \(tokens) tokens")
                }
                print(String(format: "%d documents, %.1f MB on %d rank%@ in %.1f s; tokenizing at %.2f MB/s in all (%.2f MB/s per rank)",
                             documents, Double(total(.textBytes)) / 1e6, comm.size, comm.size == 1 ? "" : "s", Date().timeIntervalSince(start),
                             rates[0] / 1e6, rates[0] / 1e6 / Double(comm.size)))
            } catch {
                FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
                status[0] = Double(ExitStatus.of(error).0.rawValue)
            }
        }
        do { try comm.allReduceMax(&status) } catch {
            FileHandle.standardError.write(Data("atelier: error: [rank \(comm.rank)] \(error)\n".utf8))
            status = [Double(ExitStatus.failure.rawValue)]
        }
        end(comm, part: part, status: ExitStatus(rawValue: Int32(status[0])) ?? .failure)
    }

    /// Prints this rank's share of the first 20 bad lines, numbered in the whole file, ranks in turn.
    func reportBadLines(_ summary: Preprocess.PartSummary, comm: Communicator, lineOffset: Int, shown: Int) {
        for rank in 0..<comm.size {
            if rank == comm.rank {
                for line in summary.firstBad.prefix(shown) {
                    let global = JSONLinesReader.BadLine(file: line.file, line: line.line + lineOffset, problem: line.problem)
                    FileHandle.standardError.write(Data("atelier: skipped \(global)\n".utf8))
                }
            }
            try? comm.barrier()
        }
    }

    /// Removes this rank's part files and ends the process with `status` (every rank calls it).
    func end(_ comm: Communicator, part: String, status: ExitStatus) -> Never {
        PreprocessPart.remove(part)
        Communicator.finalize()
        Glibc.exit(status.rawValue)
    }
}

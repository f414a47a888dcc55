import ArgumentParser
import AtelierData
import Foundation

struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Build the default multilingual corpus from Debian's translated manual pages.",
        discussion: """
        Renders the manual pages of the manpages-XX packages installed on this machine (English and
        14 translations: de es fr it nl pl pt tr vi ru uk el ja zh) to plain text with groff, and
        writes JSON lines {"text", "lang", "source"}. Install the packages first, for example:
          apt-get install -y manpages-de manpages-es manpages-fr manpages-it manpages-nl manpages-pl manpages-pt-br \\
            manpages-tr manpages-vi manpages-ru manpages-uk manpages-el manpages-ja manpages-zh
        """)

    @Argument(help: "The JSON-lines file to write.") var output = "data/manpages.jsonl"
    @Option(help: "At most this many pages per language (an even spread over the sections).") var maxPages = 300

    func run() throws {
        var corpus = ManpageCorpus()
        corpus.maxPagesPerLanguage = maxPages
        let (pages, missing) = corpus.build()
        guard !pages.isEmpty else {
            FileHandle.standardError.write(Data("atelier: error: no manual pages found under \(corpus.root); install the manpages-XX packages (atelier corpus --help)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
        try ManpageCorpus.write(pages, to: output)
        var byLanguage: [String: (pages: Int, bytes: Int)] = [:]
        for p in pages { byLanguage[p.language, default: (0, 0)].pages += 1; byLanguage[p.language, default: (0, 0)].bytes += p.text.utf8.count }
        print("wrote \(output): \(pages.count) pages, \(pages.reduce(0) { $0 + $1.text.utf8.count } / 1_000_000) MB of text in \(byLanguage.count) languages")
        for (language, c) in byLanguage.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            print("  \(language): \(c.pages) pages, \(String(format: "%.2f", Double(c.bytes) / 1e6)) MB")
        }
        if !missing.isEmpty { print("no pages for: \(missing.joined(separator: ", ")) (their manpages-XX package is not installed)") }
    }
}

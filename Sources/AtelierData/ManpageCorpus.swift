import Foundation

/// The default multilingual corpus: Debian's translated manual pages (packages manpages-de,
/// -es, -fr, ...), rendered to plain UTF-8 text with groff and written as JSON lines
/// `{"text": ..., "lang": ..., "source": ...}`. Real human-written text in many languages and
/// scripts, from the machine's own packages: nothing is fetched.
public struct ManpageCorpus: Sendable {
    /// Debian's man directory name -> the language tag written in the corpus.
    public static let languages: [(directory: String, tag: String)] = [
        ("", "en"), ("de", "de"), ("es", "es"), ("fr", "fr"), ("it", "it"), ("nl", "nl"), ("pl", "pl"),
        ("pt_BR", "pt"), ("tr", "tr"), ("vi", "vi"), ("ru", "ru"), ("uk", "uk"), ("el", "el"), ("ja", "ja"), ("zh_CN", "zh"),
    ]

    public var root = "/usr/share/man"
    public var maxPagesPerLanguage = 300
    public var workers = ProcessInfo.processInfo.activeProcessorCount

    public init() {}

    public struct Page: Sendable { public let language: String, source: String, text: String }

    /// The pages of every language present, rendered and cleaned; languages with no pages are
    /// reported in `missing`.
    public func build() -> (pages: [Page], missing: [String]) {
        var jobs: [(String, String, String)] = []   // tag, source, path
        var missing: [String] = []
        for (directory, tag) in Self.languages {
            let base = directory.isEmpty ? root : "\(root)/\(directory)"
            let files = ((try? FileManager.default.subpathsOfDirectory(atPath: base)) ?? [])
                .filter { $0.hasPrefix("man") && $0.hasSuffix(".gz") && $0.split(separator: "/").count == 2 }
                .sorted()
            if files.isEmpty { missing.append(tag); continue }
            // an even spread over sections and names, deterministic
            let step = max(1, files.count / maxPagesPerLanguage)
            for file in stride(from: 0, to: files.count, by: step).prefix(maxPagesPerLanguage).map({ files[$0] }) {
                jobs.append((tag, (directory.isEmpty ? "" : directory + "/") + file, "\(base)/\(file)"))
            }
        }
        // Each worker fills its own list; they are joined under a lock and put back in job order
        // (several threads writing into one Swift array race on its storage, whatever the index).
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var pages: [(Int, Page)] = []
        }
        let results = Results()
        let all = jobs
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { worker in
            var mine: [(Int, Page)] = []
            for i in stride(from: worker, to: all.count, by: max(1, workers)) {
                let (tag, source, path) = all[i]
                if let text = Self.render(path).map(Self.clean), text.utf8.count >= 200 {
                    mine.append((i, Page(language: tag, source: source, text: text)))
                }
            }
            results.lock.lock()
            results.pages += mine
            results.lock.unlock()
        }
        return (results.pages.sorted { $0.0 < $1.0 }.map(\.1), missing)
    }

    /// groff's plain-text rendering of a compressed manual page (no overstrikes, no colour).
    static func render(_ path: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "zcat \"$0\" | preconv -e UTF-8 | groff -T utf8 -mandoc -P -cbou -rLL=100n", path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// Plain paragraphs: header and footer lines dropped, indentation and runs of spaces removed,
    /// the lines of a paragraph joined, paragraphs separated by a newline.
    static func clean(_ rendered: String) -> String {
        var lines = rendered.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        while lines.first?.isEmpty == true { lines.removeFirst() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        if !lines.isEmpty { lines.removeFirst() }   // "LS(1)   User Commands   LS(1)"
        if !lines.isEmpty { lines.removeLast() }    // "GNU coreutils 9.1   September 2022   LS(1)"
        var paragraphs: [String] = []
        var current: [String] = []
        for line in lines {
            if line.isEmpty {
                if !current.isEmpty { paragraphs.append(current.joined(separator: " ")); current = [] }
            } else {
                current.append(line.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " "))
            }
        }
        if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
        return paragraphs.joined(separator: "\n")
    }

    /// Writes the pages as JSON lines, atomically.
    public static func write(_ pages: [Page], to path: String) throws {
        var out = Data()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for page in pages {
            out += try encoder.encode(["text": page.text, "lang": page.language, "source": page.source])
            out.append(0x0A)
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try IndexedDataset.writeAtomically(out, to: path)
    }
}

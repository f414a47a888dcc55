import AtelierData
import Foundation
import XCTest

final class ManpageCorpusTests: XCTestCase {
    /// Pages rendered by 4 workers at once come back complete and in the same order as with one
    /// (the workers used to write into one Swift array together: a data race under TSan).
    func testConcurrentRenderingKeepsEveryPageInOrder() throws {
        let which = Process()
        which.executableURL = URL(fileURLWithPath: "/bin/sh")
        which.arguments = ["-c", "command -v groff && command -v gzip && command -v preconv"]
        which.standardOutput = FileHandle.nullDevice
        try which.run()
        which.waitUntilExit()
        try XCTSkipUnless(which.terminationStatus == 0, "needs groff and gzip (Debian's groff-base)")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("man-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        for (directory, word) in [("", "command"), ("de", "Befehl"), ("fr", "commande")] {
            let section = root.appendingPathComponent(directory.isEmpty ? "man1" : "\(directory)/man1")
            try FileManager.default.createDirectory(at: section, withIntermediateDirectories: true)
            for i in 0..<6 {
                let body = (0..<8).map { "The \(word) number \(i) paragraph \($0) explains an option in some detail." }.joined(separator: "\n.PP\n")
                let page = section.appendingPathComponent("tool\(i).1")
                try ".TH TOOL\(i) 1\n.SH NAME\ntool\(i) \\- a \(word)\n.SH DESCRIPTION\n\(body)\n".write(to: page, atomically: true, encoding: .utf8)
                let gzip = Process()
                gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
                gzip.arguments = ["-c", "gzip -f \"$0\"", page.path]
                try gzip.run()
                gzip.waitUntilExit()
            }
        }
        var corpus = ManpageCorpus()
        corpus.root = root.path
        corpus.workers = 1
        let serial = corpus.build()
        corpus.workers = 4
        let parallel = corpus.build()
        XCTAssertEqual(serial.pages.count, 18)
        XCTAssertEqual(parallel.pages.map(\.source), serial.pages.map(\.source))
        XCTAssertEqual(parallel.pages.map(\.text), serial.pages.map(\.text))
        XCTAssertEqual(Set(parallel.pages.map(\.language)), ["en", "de", "fr"])
        XCTAssertTrue(parallel.pages.first { $0.language == "de" }?.text.contains("Befehl number") ?? false)
        XCTAssertTrue(parallel.missing.contains("ja"))
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies ranges of tokens from a part's tokens file to `out` by byte copy, one read per run of
/// adjacent ranges (a part of one language is a single run).
final class TokenCopier {
    let path: String
    let type: IndexedDataset.TokenType
    let out: FileWriter
    private var fd: Int32
    private var run = 0..<0
    private var buffer: [UInt8]

    init(path: String, type: IndexedDataset.TokenType, into out: FileWriter, bufferSize: Int) throws {
        (self.path, self.type, self.out) = (path, type, out)
        buffer = [UInt8](repeating: 0, count: bufferSize)
        fd = try LineReader.open(path)
    }

    deinit { if fd >= 0 { close(fd) } }

    func copy(_ tokens: Range<Int>) throws {
        if run.upperBound == tokens.lowerBound { run = run.lowerBound..<tokens.upperBound; return }
        try copyRun()
        run = tokens
    }

    func finish() throws {
        try copyRun()
        close(fd)
        fd = -1
    }

    private func copyRun() throws {
        var at = run.lowerBound * type.size
        let end = run.upperBound * type.size
        while at < end {
            let got = try LineReader.read(fd, path, into: &buffer, count: min(buffer.count, end - at), at: at)
            try buffer.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            at += got
        }
        run = run.upperBound..<run.upperBound
    }
}

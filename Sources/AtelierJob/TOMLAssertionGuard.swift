#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The last line of defence in front of toml++: it checks some of its assumptions about the
/// input with assert(), which would abort the process on malformed input that `TOMLInputCheck`
/// does not know about yet. This replaces glibc's assertion handler: an assertion raised inside
/// toml++ while a file is being parsed ends the process with a bad-input error naming the file
/// (exit 2; nothing has been written at that point), any other assertion aborts as glibc's
/// would. The fuzz targets run into it as a crash, which is how new cases are found.
enum TOMLAssertionGuard {
    nonisolated(unsafe) static var currentFile: String?

    static func parsing<T>(_ file: String, _ body: () throws -> T) rethrows -> T {
        currentFile = file
        defer { currentFile = nil }
        return try body()
    }
}

@_cdecl("__assert_fail")
public func atelierAssertFail(_ assertion: UnsafePointer<CChar>, _ file: UnsafePointer<CChar>, _ line: UInt32,
                              _ function: UnsafePointer<CChar>) -> Never {
    let (expression, source) = (String(cString: assertion), String(cString: file))
    if source.hasSuffix("toml.hpp"), let parsed = TOMLAssertionGuard.currentFile {
        FileHandle.standardError.write(Data("atelier: error: \(parsed): malformed TOML that the TOML parser cannot report (its internal check '\(expression)' failed at toml.hpp:\(line)); fix the file's syntax\n".utf8))
        exit(2)
    }
    FileHandle.standardError.write(Data("\(CommandLine.arguments.first ?? "atelier"): \(source):\(line): \(String(cString: function)): Assertion `\(expression)' failed.\n".utf8))
    abort()
}

import AtelierFuzz
import Foundation

// Two builds of one program (see .ci/fuzz and docs/fault-tolerance.md):
// - with `-sanitize=fuzzer -D FUZZING`, libFuzzer's driver runs the target named by
//   ATELIER_FUZZ_TARGET, and all of libFuzzer's flags apply;
// - without, `atelier-fuzz TARGET FILE...` replays inputs (a crash found, a corpus) and says
//   which were accepted.

#if FUZZING
/// libFuzzer's driver, called from our own entry point (SwiftPM names an executable's entry
/// `<module>_main`, so libFuzzer's `main` is not the one linked).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) var target: FuzzTarget = .jobFile

@_cdecl("atelier_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    let name = ProcessInfo.processInfo.environment["ATELIER_FUZZ_TARGET"] ?? ""
    guard let chosen = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("atelier-fuzz: set ATELIER_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        return 2
    }
    target = chosen
    atexit { FuzzTarget.cleanUp() }
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        target.run(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
@main
enum FuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            print("usage: atelier-fuzz TARGET FILE...   (TARGET: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            exit(2)
        }
        for file in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("\(file): unreadable")
                exit(2)
            }
            print("\(file): \(target.run(data) ? "accepted" : "refused with an error")")
        }
        FuzzTarget.cleanUp()
    }
}
#endif

import AtelierFuzz
import Foundation

// Two builds of one program (see .ci/fuzz and docs/fault-tolerance.md):
// - with `-sanitize=fuzzer -D FUZZING`, libFuzzer's driver calls LLVMFuzzerTestOneInput for the
//   target named by ATELIER_FUZZ_TARGET, and all of libFuzzer's flags apply;
// - without, `atelier-fuzz TARGET FILE...` replays inputs (a crash found, a corpus) and says
//   which were accepted.

#if FUZZING
let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["ATELIER_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("atelier-fuzz: set ATELIER_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    atexit { FuzzTarget.cleanUp() }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    target.run(data)
    return 0
}
#else
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
#endif

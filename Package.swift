// swift-tools-version:6.0
import PackageDescription

// Modules follow the data flow: job file -> data -> model -> distributed step -> checkpoint -> accounting -> report -> CLI.
// The C libraries each sit behind one thin Swift module (CMPI -> MPI, COpenBLAS -> BLAS, CHDF5 -> HDF5,
// CPostgreSQL -> PostgreSQL); nothing else imports their headers.
// The model's element-wise kernels (AtelierModel's SIMD16<Float>) compile to AVX2 and FMA
// (x86-64-v3): every machine of this kind has them; SSE2, Swift's default, takes 4 instructions per
// 16-lane op. `ATELIER_VECTOR_ISA=x86-64-v4 swift build -c release` compiles them for AVX-512 (one
// instruction each; 25-41 % less time for those that compute: docs/benchmarks.md), for nodes that
// all have it. A variable and not the building machine's /proc/cpuinfo: SwiftPM caches the
// evaluated manifest by its text and environment, so a build on another node could reuse it.
// A binary started on a CPU without its level refuses to start (Sources/BLAS/VectorLevel.swift).
let buildISA = vectorLevel()
let vectorISA: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=\(buildISA)"])]
// Tells BLASRuntime which level the kernels were built for, so the binary can check the CPU.
let vectorISADefine: [SwiftSetting] = buildISA == "x86-64-v4" ? [.define("ATELIER_VECTOR_ISA_V4")] : []

func vectorLevel() -> String {
    let levels = ["x86-64-v3", "x86-64-v4"]
    guard let chosen = Context.environment["ATELIER_VECTOR_ISA"] else { return levels[0] }
    guard levels.contains(chosen) else {
        fatalError("ATELIER_VECTOR_ISA=\(chosen) is not a vector level atelier builds for: use x86-64-v3 (AVX2, the default) or x86-64-v4 (AVX-512)")
    }
    return chosen
}

let package = Package(
    name: "Atelier",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "atelier", targets: ["atelier"]),
        .executable(name: "atelier-fuzz", targets: ["atelier-fuzz"]),
    ],
    dependencies: [
        // Subcommands and help text for the `atelier` CLI.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // A real TOML parser (toml++ underneath) for job files, with line/column parse errors.
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // The accounting ledger: SQLite (Debian's libsqlite3-dev) with WAL, busy timeouts, migrations;
        // typed rows and transactions without writing a C shim over sqlite3.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // C libraries from Debian, through pkg-config, with shims for the macros Swift cannot import.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // libpq for the site-wide PostgreSQL ledger (docs/accounting.md says why libpq and not PostgresNIO).
        .systemLibrary(name: "CPostgreSQL", path: "Sources/CPostgreSQL", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),

        // Thin Swift faces of the C libraries.
        .target(name: "MPI", dependencies: ["CMPI"]),
        .target(name: "BLAS", dependencies: ["COpenBLAS"], swiftSettings: vectorISADefine),
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        .target(name: "PostgreSQL", dependencies: ["CPostgreSQL"]),

        // TensorBoard's events files (record framing, CRC32C, the few protobuf messages), by hand: no dependencies.
        .target(name: "TensorBoard"),

        // job file -> data -> model -> distributed step -> checkpoint -> accounting -> report; the training loop ties them
        // The vocabulary every stage shares: the model's shape, seeded randomness, checked sizes, the one hash.
        .target(name: "AtelierCore"),
        .target(name: "AtelierJob", dependencies: ["AtelierCore", .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "AtelierTokenizer"),
        .target(name: "AtelierData", dependencies: ["AtelierCore", "AtelierJob", "AtelierTokenizer"]),
        .target(name: "AtelierModel", dependencies: ["AtelierCore", "BLAS"], swiftSettings: vectorISA),
        .target(name: "AtelierDistributed", dependencies: ["AtelierCore", "AtelierJob", "AtelierModel", "MPI"]),
        .target(name: "AtelierCheckpoint", dependencies: ["AtelierCore", "AtelierJob", "AtelierData", "AtelierModel", "HDF5"]),
        .target(name: "AtelierAccounting", dependencies: ["AtelierCore", "AtelierJob", "PostgreSQL",
                                                          .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "AtelierReport", dependencies: ["AtelierAccounting", "AtelierCore"]),
        .target(name: "AtelierTrain", dependencies: ["AtelierCore", "AtelierJob", "AtelierData", "AtelierModel", "AtelierDistributed",
                                                     "AtelierCheckpoint", "AtelierAccounting", "AtelierTokenizer", "BLAS", "MPI", "TensorBoard"]),
        .executableTarget(name: "atelier", dependencies: [
            "AtelierTrain", "AtelierCheckpoint", "AtelierAccounting", "AtelierReport", "AtelierCore", "AtelierJob", "AtelierData",
            "AtelierTokenizer", "BLAS", "MPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Fuzz targets for every parser of untrusted input, and their libFuzzer / replay driver (.ci/fuzz).
        .target(name: "AtelierFuzz", dependencies: ["AtelierCore", "AtelierJob", "AtelierAccounting", "AtelierCheckpoint", "AtelierModel",
                                                    "AtelierTokenizer", "AtelierData"]),
        .executableTarget(name: "atelier-fuzz", dependencies: ["AtelierFuzz"]),

        .testTarget(name: "AtelierJobTests", dependencies: ["AtelierCore", "AtelierJob"]),
        .testTarget(name: "AtelierTokenizerTests", dependencies: ["AtelierTokenizer"]),
        .testTarget(name: "AtelierDataTests", dependencies: ["AtelierData", "AtelierCore", "AtelierJob", "AtelierTokenizer"]),
        .testTarget(name: "AtelierModelTests", dependencies: ["AtelierModel", "AtelierCore", "BLAS"],
                    resources: [.copy("Reference")]),
        .testTarget(name: "AtelierCheckpointTests", dependencies: ["AtelierCheckpoint", "AtelierModel", "AtelierCore", "AtelierJob", "HDF5"]),
        .testTarget(name: "AtelierAccountingTests", dependencies: ["AtelierAccounting", "AtelierCheckpoint", "AtelierCore", "AtelierJob",
                                                              .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "AtelierReportTests", dependencies: ["AtelierReport", "AtelierAccounting", "AtelierCheckpoint"]),
        .testTarget(name: "AtelierDistributedTests", dependencies: ["AtelierDistributed", "AtelierModel", "AtelierCore", "AtelierJob", "MPI"]),
        .testTarget(name: "AtelierTrainTests", dependencies: ["AtelierTrain", "AtelierModel", "AtelierCore", "AtelierJob", "AtelierCheckpoint", "MPI",
                                                             "AtelierDistributed", "BLAS", "AtelierAccounting", "TensorBoard"]),
        .testTarget(name: "AtelierCLITests", dependencies: []),
        .testTarget(name: "BLASTests", dependencies: ["BLAS"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["AtelierFuzz"], resources: [.copy("Inputs")]),
    ]
)

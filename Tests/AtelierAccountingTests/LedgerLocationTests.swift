import AtelierAccounting
import Foundation
import GRDB
import XCTest

final class LedgerLocationTests: XCTestCase {
    func testPathsAndURLs() throws {
        XCTAssertEqual(try LedgerLocation("runs/ledger.sqlite"), .sqlite(path: "runs/ledger.sqlite"))
        guard case .postgreSQL(let a) = try LedgerLocation("postgresql://atelier@db.example.org:6543/site") else { return XCTFail() }
        XCTAssertEqual([a.user, a.host, String(a.port), a.database], ["atelier", "db.example.org", "6543", "site"])
        guard case .postgreSQL(let b) = try LedgerLocation("postgres://10.0.0.5/ledger?sslmode=require") else { return XCTFail() }
        XCTAssertEqual(b.user, nil)
        XCTAssertEqual(b.port, 5432)
        XCTAssertEqual(b.sslMode, "require")
        XCTAssertEqual(b.description, "postgresql://10.0.0.5:5432/ledger?sslmode=require")
    }

    /// A password in the URL is refused, and the message shows the URL without it.
    func testPasswordInTheURLIsRefusedWithoutShowingIt() {
        for text in ["postgresql://atelier:s3cret-pw@db:5432/site", "postgres://atelier:s3cret-pw@db/site?sslmode=require"] {
            XCTAssertThrowsError(try LedgerLocation(text)) { e in
                let message = "\(e)"
                XCTAssertFalse(message.contains("s3cret-pw"), message)
                XCTAssertTrue(message.contains("atelier@db"), message)
                XCTAssertTrue(message.contains("PGPASSWORD or ~/.pgpass"), message)
            }
            XCTAssertThrowsError(try Ledger(path: text)) { e in XCTAssertFalse("\(e)".contains("s3cret-pw"), "\(e)") }
        }
    }

    func testMalformedURLsNameWhatIsMissing() {
        let cases = ["postgresql://atelier@db:5432/": "no database name", "postgresql:///site": "no host",
                     "postgresql://db/site?user=x": "unknown parameter 'user'", "postgresql://db:70000/site": "postgresql://db:70000/site"]
        for (text, expected) in cases {
            XCTAssertThrowsError(try LedgerLocation(text)) { e in XCTAssertTrue("\(e)".contains(expected), "\(text): \(e)") }
        }
    }

    /// `?` inside quotes is not a placeholder; the others are numbered in order.
    func testPostgreSQLPlaceholders() {
        XCTAssertEqual(LedgerDialect.postgreSQL.placeholders("SELECT '?', \"a?\" FROM t WHERE x = ? AND y = 'it''s ?' AND z = ?"),
                       "SELECT '?', \"a?\" FROM t WHERE x = $1 AND y = 'it''s ?' AND z = $2")
        XCTAssertEqual(LedgerDialect.sqlite.placeholders("x = ?"), "x = ?")
    }

    /// A ledger written before PostgreSQL (migrations v1 and v2, "end" and "user" unquoted, an event
    /// recorded twice) opens, gains the event key and the Slurm columns, and reads as before.
    func testExistingSQLiteLedgerIsMigrated() throws {
        let path = temporaryPath("old.sqlite")
        var old = DatabaseMigrator()
        old.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, working_group TEXT NOT NULL, user TEXT NOT NULL,
                    job_hash TEXT NOT NULL, profile TEXT NOT NULL, site TEXT NOT NULL, run_dir TEXT NOT NULL,
                    world_size INTEGER NOT NULL, segments INTEGER NOT NULL DEFAULT 0,
                    started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL, exit_reason TEXT NOT NULL DEFAULT '');
                CREATE TABLE intervals (job_id TEXT NOT NULL REFERENCES jobs(id), segment INTEGER NOT NULL, seq INTEGER NOT NULL,
                    start REAL NOT NULL, end REAL NOT NULL, first_iteration INTEGER NOT NULL, last_iteration INTEGER NOT NULL,
                    tokens INTEGER NOT NULL, loss REAL, mfu REAL,
                    model_flops REAL NOT NULL, hardware_flops REAL NOT NULL, device_seconds REAL NOT NULL, node_seconds REAL NOT NULL,
                    cpu_kwh REAL NOT NULL, gpu_kwh REAL NOT NULL, ram_kwh REAL NOT NULL, static_kwh REAL NOT NULL,
                    energy_kwh REAL NOT NULL, emissions_kg REAL NOT NULL, embodied_kg REAL NOT NULL,
                    lost INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, segment, seq));
                CREATE INDEX intervals_by_time ON intervals(end);
                CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, at REAL NOT NULL,
                    kind TEXT NOT NULL, message TEXT NOT NULL);
                INSERT INTO jobs VALUES ('old', 'n', 'g', 'u', 'h', 'p', 's', '/r', 2, 1, 5.0, 9.0, 'finished', 'done');
                INSERT INTO intervals VALUES ('old', 1, 1, 5.0, 9.0, 0, 10, 640, 2.5, 0.25, 1e12, 1e12, 8, 4, 0.001, 0, 0.0005, 0.0002, 0.0025, 0.00025, 0.0001, 0);
                INSERT INTO events (job_id, at, kind, message) VALUES ('old', 5.0, 'launch', 'twice'), ('old', 5.0, 'launch', 'twice'), ('old', 6.0, 'launch', 'once');
                """)
        }
        old.registerMigration("v2: validations") { db in
            try db.execute(sql: """
                CREATE TABLE validations (job_id TEXT NOT NULL, iteration INTEGER NOT NULL, dataset TEXT NOT NULL,
                    loss REAL NOT NULL, bits_per_byte REAL NOT NULL, at REAL NOT NULL, PRIMARY KEY (job_id, iteration, dataset));
                """)
        }
        try old.migrate(try DatabaseQueue(path: path))
        func migrations() throws -> [String] {
            try DatabaseQueue(path: path).read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
        }

        // copied as it is: the source is not migrated, the copy stores the doubled event once
        let copy = try Ledger(path: temporaryPath("copy.sqlite"))
        let counts = try copy.copy(from: try Ledger(path: path, readingOnly: true))
        XCTAssertEqual(counts.added, ["jobs": 1, "intervals": 1, "events": 2, "validations": 0, "interval_languages": 0, "interval_water": 0,
                                      "estimates": 0, "launch_endings": 0])
        XCTAssertEqual(try migrations(), ["v1", "v2: validations"])
        XCTAssertEqual(try copy.totals(jobID: "old").energyKWh, 0.0025)

        let ledger = try Ledger(path: path)
        XCTAssertEqual(try ledger.events().map(\.message), ["twice", "once"])
        let jobs = try ledger.jobs()
        XCTAssertEqual(jobs.map(\.record.user), ["u"])
        XCTAssertNil(jobs[0].record.slurm)
        XCTAssertEqual(try ledger.intervals().map(\.record.end), [9.0])
        XCTAssertEqual(try ledger.totals(jobID: "old").energyKWh, 0.0025)
        try ledger.apply(.event(jobID: "old", kind: "launch", message: "once", at: 6.0))   // stored once
        XCTAssertEqual(try ledger.events().count, 2)
        XCTAssertEqual(try migrations(), LedgerMigrations.all.map(\.name))
    }
}

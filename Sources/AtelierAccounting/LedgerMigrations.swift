/// The ledger's schema, as one ordered list of migrations that both stores apply: SQLite through
/// GRDB's migrator (so ledgers written before PostgreSQL existed carry on), PostgreSQL through a
/// `schema_migrations` table. A new table or column is a new entry at the end; the names are
/// recorded in each ledger and never change. Schema in docs/accounting.md.
public struct LedgerMigration: Sendable {
    public let name: String
    public let sql: @Sendable (LedgerDialect) -> String
}

public enum LedgerMigrations {
    public static let all: [LedgerMigration] = [
        LedgerMigration(name: "v1") { d in """
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, working_group TEXT NOT NULL, "user" TEXT NOT NULL,
                job_hash TEXT NOT NULL, profile TEXT NOT NULL, site TEXT NOT NULL, run_dir TEXT NOT NULL,
                world_size INTEGER NOT NULL, segments INTEGER NOT NULL DEFAULT 0,
                started_at \(d.double) NOT NULL, ended_at \(d.double), status TEXT NOT NULL, exit_reason TEXT NOT NULL DEFAULT '');
            CREATE TABLE IF NOT EXISTS intervals (
                job_id TEXT NOT NULL REFERENCES jobs(id), segment INTEGER NOT NULL, seq INTEGER NOT NULL,
                start \(d.double) NOT NULL, "end" \(d.double) NOT NULL, first_iteration INTEGER NOT NULL, last_iteration INTEGER NOT NULL,
                tokens INTEGER NOT NULL, loss \(d.double), mfu \(d.double),
                \(AccountingTotals.fieldNames.map { "\($0) \(d.double) NOT NULL" }.joined(separator: ", ")),
                lost INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (job_id, segment, seq));
            CREATE INDEX IF NOT EXISTS intervals_by_time ON intervals("end");
            CREATE TABLE IF NOT EXISTS events (
                id \(d.identityKey), job_id TEXT NOT NULL, at \(d.double) NOT NULL,
                kind TEXT NOT NULL, message TEXT NOT NULL);
            """
        },
        LedgerMigration(name: "v2: validations") { d in """
            CREATE TABLE IF NOT EXISTS validations (
                job_id TEXT NOT NULL, iteration INTEGER NOT NULL, dataset TEXT NOT NULL,
                loss \(d.double) NOT NULL, bits_per_byte \(d.double) NOT NULL, at \(d.double) NOT NULL,
                PRIMARY KEY (job_id, iteration, dataset));
            """
        },
        // An event retried after a lost commit acknowledgement, or copied twice by `atelier ledger
        // copy`, is stored once: events get a natural key like intervals and validations.
        LedgerMigration(name: "v3: one row per event") { d in """
            DELETE FROM events WHERE id NOT IN (SELECT MIN(id) FROM events GROUP BY job_id, at, kind, message);
            CREATE UNIQUE INDEX IF NOT EXISTS events_once ON events (job_id, at, kind, \(d.uniqueText("message")));
            """
        },
        // The Slurm allocation a launch ran in (SlurmAllocation); NULL outside Slurm.
        LedgerMigration(name: "v4: slurm") { _ in
            (["jobs", "intervals"].flatMap { table in SlurmAllocation.columns.map { "ALTER TABLE \(table) ADD COLUMN \($0) TEXT;" } }
                + ["CREATE INDEX IF NOT EXISTS intervals_by_slurm_job ON intervals(slurm_job_id);"]).joined(separator: "\n")
        },
        // Each interval's split among the languages trained in it, in integer micro-units so that
        // the parts add up exactly (LanguageAttribution), and its litres of water with the profile
        // of the time (WaterUse).
        LedgerMigration(name: "v5: interval languages and water") { d in """
            CREATE TABLE IF NOT EXISTS interval_languages (
                job_id TEXT NOT NULL, segment INTEGER NOT NULL, seq INTEGER NOT NULL, language TEXT NOT NULL,
                tokens BIGINT NOT NULL, energy_uwh BIGINT NOT NULL, emissions_ug BIGINT NOT NULL, embodied_ug BIGINT NOT NULL,
                water_ul BIGINT,
                PRIMARY KEY (job_id, segment, seq, language));
            CREATE TABLE IF NOT EXISTS interval_water (
                job_id TEXT NOT NULL, segment INTEGER NOT NULL, seq INTEGER NOT NULL,
                offsite_l \(d.double), onsite_l \(d.double),
                PRIMARY KEY (job_id, segment, seq));
            """
        },
        // What the job's first launch estimated (EstimateRecord), to compare with what it used.
        LedgerMigration(name: "v6: estimates") { d in """
            CREATE TABLE IF NOT EXISTS estimates (
                job_id TEXT PRIMARY KEY, at \(d.double) NOT NULL, mfu \(d.double) NOT NULL, device_peak_flops \(d.double) NOT NULL,
                tokens \(d.double) NOT NULL, model_flops \(d.double) NOT NULL, device_hours \(d.double) NOT NULL,
                energy_kwh \(d.double) NOT NULL, operational_kg \(d.double) NOT NULL, embodied_kg \(d.double) NOT NULL);
            """
        },
        // Seconds per interval that trained nothing, by cause (IntervalOverheads), and how each
        // launch ended (LaunchEnding), for the work its restart redid.
        LedgerMigration(name: "v7: lost work by cause") { d in
            (IntervalOverheads.columns.map { "ALTER TABLE intervals ADD COLUMN \($0) \(d.double) NOT NULL DEFAULT 0;" } + ["""
            CREATE TABLE IF NOT EXISTS launch_endings (
                job_id TEXT NOT NULL, segment INTEGER NOT NULL, ending TEXT NOT NULL, reason TEXT NOT NULL, at \(d.double) NOT NULL,
                PRIMARY KEY (job_id, segment));
            """]).joined(separator: "\n")
        },
    ]
}

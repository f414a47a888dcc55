/// What `atelier ledger copy` did: rows read from the source, and rows the destination gained,
/// per table. Copying the same source again gains nothing.
public struct LedgerCopyCounts: Equatable, Sendable, CustomStringConvertible {
    public var read: [String: Int] = [:]
    public var added: [String: Int] = [:]

    public var description: String {
        Ledger.copiedTables.map { "\(read[$0] ?? 0) \($0) (\(added[$0] ?? 0) new)" }.joined(separator: ", ")
    }
}

extension Ledger {
    /// The tables `copy` carries, in an order that satisfies intervals' reference to jobs.
    public static let copiedTables = ["jobs", "intervals", "events", "validations", "interval_languages", "interval_water",
                                      "estimates", "launch_endings"]

    /// Copies every job, interval, event and validation of `source` into this ledger, in one
    /// transaction, by their natural keys: a row already here is kept, so copying twice changes
    /// nothing. A job in both (its launches ran on different nodes, each with its own SQLite
    /// ledger) is merged: the earlier start, and the record of the later launch. Work that a
    /// later launch of a job redid is then marked lost, as the resume would have marked it had
    /// both launches written one ledger.
    public func copy(from source: Ledger) throws -> LedgerCopyCounts {
        let rows = try source.read { db in
            // a table the source's older schema lacks has no rows to copy
            try Self.copiedTables.map { table in
                try db.fetchOne(sql: db.dialect.tableExists, arguments: [table]) == nil ? [] : try db.fetchAll(sql: "SELECT * FROM \(table)")
            }
        }
        var counts = LedgerCopyCounts()
        try write { db in
            let before = try Self.rowCounts(db)
            for (table, tableRows) in zip(Self.copiedTables, rows) {
                counts.read[table] = tableRows.count
                for row in tableRows { try Self.insert(row, into: table, db) }
            }
            try db.execute(sql: """
                UPDATE intervals SET lost = 1 WHERE lost = 0 AND EXISTS (
                    SELECT 1 FROM intervals later WHERE later.job_id = intervals.job_id AND later.segment > intervals.segment
                    AND later.seq = 1 AND later.first_iteration < intervals.last_iteration)
                """)
            for (table, after) in try Self.rowCounts(db) { counts.added[table] = after - (before[table] ?? 0) }
        }
        return counts
    }

    static func rowCounts(_ db: any LedgerDatabase) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for table in copiedTables { out[table] = try db.fetchOne(sql: "SELECT COUNT(*) FROM \(table)")?[0] ?? 0 }
        return out
    }

    /// One source row into `table`, by its natural key. Events get a new id here (the key is
    /// job, time, kind and message).
    static func insert(_ row: LedgerRow, into table: String, _ db: any LedgerDatabase) throws {
        let pairs = zip(row.columns, row.values).filter { table != "events" || $0.0 != "id" }
        let columns = pairs.map { "\"\($0.0)\"" }.joined(separator: ", ")
        let values: LedgerArguments = pairs.map(\.1)
        let insert = "INSERT INTO \(table) (\(columns)) VALUES (\(Array(repeating: "?", count: pairs.count).joined(separator: ", ")))"
        switch table {
        case "jobs":
            // the later launch's record wins; the first start is kept
            let updates = pairs.map(\.0).filter { $0 != "id" && $0 != "started_at" }.map { "\"\($0)\" = excluded.\"\($0)\"" }
            try db.execute(sql: insert + " ON CONFLICT (id) DO UPDATE SET \(updates.joined(separator: ", ")) WHERE excluded.segments > jobs.segments",
                           arguments: values)
            let id: String = try row["id"], started: Double = try row["started_at"]
            try db.execute(sql: "UPDATE jobs SET started_at = ? WHERE id = ? AND started_at > ?", arguments: [started, id, started])
        case "intervals":
            try db.execute(sql: insert + " ON CONFLICT DO NOTHING", arguments: values)
            if try row["lost"] as Bool {
                try db.execute(sql: "UPDATE intervals SET lost = 1 WHERE job_id = ? AND segment = ? AND seq = ?",
                               arguments: [try row["job_id"] as String, try row["segment"] as Int, try row["seq"] as Int])
            }
        default:
            try db.execute(sql: insert + " ON CONFLICT DO NOTHING", arguments: values)
        }
    }
}

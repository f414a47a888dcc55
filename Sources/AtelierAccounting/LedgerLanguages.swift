import Foundation

/// The ledger's per-language and water records (docs/accounting.md): each interval's split among
/// the languages trained in it (`LanguageAttribution`, integer units so that the parts add up
/// exactly), and its litres of water with the profile of the time. Portable SQL: `?` placeholders,
/// ON CONFLICT, BIGINT for the 64-bit units.
extension Ledger {
    /// With the interval's own row, in the same transaction; a retried write is stored once.
    static func insertLanguagesAndWater(_ i: IntervalRecord, _ db: any LedgerDatabase) throws {
        for s in LanguageAttribution.shares(of: i) {
            try db.execute(sql: """
                INSERT INTO interval_languages (job_id, segment, seq, language, tokens, energy_uwh, emissions_ug, embodied_ug, water_ul)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, segment, seq, language) DO NOTHING
                """, arguments: [i.jobID, i.segment, i.sequence, s.language, s.tokens, s.energyMicroWh, s.operationalMicrograms,
                                 s.embodiedMicrograms, s.waterMicrolitres])
        }
        if let w = i.water {
            try db.execute(sql: """
                INSERT INTO interval_water (job_id, segment, seq, offsite_l, onsite_l) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (job_id, segment, seq) DO NOTHING
                """, arguments: [i.jobID, i.segment, i.sequence, w.offsiteLitres, w.onsiteLitres])
        }
    }

    /// The language shares of the intervals that ended in [since, until], by interval.
    public func languageShares(since: Double = -.infinity, until: Double = .infinity) throws -> [IntervalKey: [LanguageShare]] {
        try read { db in
            var out: [IntervalKey: [LanguageShare]] = [:]
            for row in try db.fetchAll(sql: """
                SELECT l.job_id, l.segment, l.seq, l.language, l.tokens, l.energy_uwh, l.emissions_ug, l.embodied_ug, l.water_ul
                FROM interval_languages l JOIN intervals i ON i.job_id = l.job_id AND i.segment = l.segment AND i.seq = l.seq
                WHERE i."end" >= ? AND i."end" <= ? ORDER BY l.job_id, l.segment, l.seq, l.language
                """, arguments: [since.isFinite ? since : -1e18, until.isFinite ? until : 1e18]) {
                let key = try IntervalKey(jobID: row["job_id"], segment: row["segment"], sequence: row["seq"])
                out[key, default: []].append(try LanguageShare(language: row["language"], tokens: row["tokens"], energyMicroWh: row["energy_uwh"],
                                                           operationalMicrograms: row["emissions_ug"], embodiedMicrograms: row["embodied_ug"],
                                                           waterMicrolitres: row["water_ul"]))
            }
            return out
        }
    }

    /// The water of the intervals that ended in [since, until], by interval (none for intervals
    /// written before water was kept).
    public func intervalWater(since: Double = -.infinity, until: Double = .infinity) throws -> [IntervalKey: WaterUse] {
        try read { db in
            var out: [IntervalKey: WaterUse] = [:]
            for row in try db.fetchAll(sql: """
                SELECT w.job_id, w.segment, w.seq, w.offsite_l, w.onsite_l
                FROM interval_water w JOIN intervals i ON i.job_id = w.job_id AND i.segment = w.segment AND i.seq = w.seq
                WHERE i."end" >= ? AND i."end" <= ?
                """, arguments: [since.isFinite ? since : -1e18, until.isFinite ? until : 1e18]) {
                out[try IntervalKey(jobID: row["job_id"], segment: row["segment"], sequence: row["seq"])] =
                    try WaterUse(offsiteLitres: row["offsite_l"], onsiteLitres: row["onsite_l"])
            }
            return out
        }
    }

    /// Every validation of every job, oldest iteration first: job id -> [(iteration, records)].
    public func validationHistory() throws -> [String: [(iteration: Int, results: [ValidationRecord])]] {
        try read { db in
            var out: [String: [(iteration: Int, results: [ValidationRecord])]] = [:]
            for row in try db.fetchAll(sql: "SELECT job_id, iteration, dataset, loss, bits_per_byte FROM validations ORDER BY job_id, iteration, dataset") {
                let id: String = try row["job_id"], iteration: Int = try row["iteration"]
                let record = try ValidationRecord(dataset: row["dataset"], loss: row["loss"], bitsPerByte: row["bits_per_byte"])
                if out[id]?.last?.iteration == iteration { out[id]![out[id]!.count - 1].results.append(record) }
                else { out[id, default: []].append((iteration, [record])) }
            }
            return out
        }
    }
}

/// An interval's key in the ledger: job, launch, sequence.
public struct IntervalKey: Hashable, Sendable {
    public var jobID: String
    public var segment: Int
    public var sequence: Int
    public init(jobID: String, segment: Int, sequence: Int) { (self.jobID, self.segment, self.sequence) = (jobID, segment, sequence) }
}

extension IntervalRecord {
    public var key: IntervalKey { IntervalKey(jobID: jobID, segment: segment, sequence: sequence) }
}

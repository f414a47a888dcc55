import AtelierAccounting

extension WorkBreakdown {
    /// The split of a job's intervals (`endings`: how each of its launches ended); `warn` names an
    /// interval whose figures do not fit the units (it is left out).
    static func of(_ intervals: [LedgerInterval], endings: [Int: LaunchEnding], job: String, warn: (String) -> Void) -> WorkBreakdown {
        var work = WorkBreakdown()
        for i in intervals {
            guard let split = LostWork.split(i.record, lost: i.lost, ending: endings[i.record.segment]) else {
                warn("job \(job): interval \(i.record.segment).\(i.record.sequence) has figures too large to count in device-µs, µWh and µg; it is left out of the lost work by cause")
                continue
            }
            work.add(split)
        }
        return work
    }
}

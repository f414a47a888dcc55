import Foundation

/// Cutting an events file back to a step, for a run resumed from a checkpoint at that step: the
/// events of later steps (logged after the checkpoint, by a launch that then died) and anything
/// after a torn or damaged record are dropped, so every reader sees each step once. The file is
/// rewritten atomically (a temporary file renamed over it) only when something is dropped, and
/// removed when no scalars are left in it.
public enum EventFileTrim {
    public enum Outcome: Equatable, Sendable {
        case unchanged
        case rewritten(dropped: Int, damage: TFRecord.Damage?)   // dropped: whole events
        case removed(dropped: Int, damage: TFRecord.Damage?)
    }

    public static func keep(path: String, throughStep last: Int64) throws -> Outcome {
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw EventFileError(path: path, reason: "cannot read it: \(error.localizedDescription)")
        }
        let (payloads, framingDamage) = TFRecord.records(in: bytes)
        var damage = framingDamage
        var events: [(payload: ArraySlice<UInt8>, event: Event)] = []
        for (i, payload) in payloads.enumerated() {
            do { events.append((payload, try Event(decoding: payload))) } catch {
                // intact framing around bytes that are not an event: read no further, as after a torn record
                damage = TFRecord.Damage(offset: payload.startIndex - 12, reason: "record \(i + 1) is not an event (\(error))")
                break
            }
        }
        let kept = events.filter { $0.event.step <= last }
        let dropped = events.count - kept.count
        if dropped == 0 && damage == nil { return .unchanged }
        let scalarsLeft = kept.contains { if case .scalars = $0.event.content { return true } else { return false } }
        do {
            if !scalarsLeft {
                try FileManager.default.removeItem(atPath: path)
                return .removed(dropped: dropped, damage: damage)
            }
            try Data(kept.flatMap { TFRecord.framed(Array($0.payload)) }).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EventFileError(path: path, reason: "cannot rewrite it: \(error.localizedDescription)")
        }
        return .rewritten(dropped: dropped, damage: damage)
    }
}

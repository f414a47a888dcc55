import TensorBoard
import XCTest

final class EventEncodingTests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Field by field (each byte also what Python's protobuf serialises for the same Event):
    /// 09 + 1.5 as a little-endian double (wall_time, field 1, 64-bit);
    /// 10 0a (step, field 2, varint 10);
    /// 2a 13 (summary, field 5, 19 bytes) -> 0a 11 (value, field 1, 17 bytes) ->
    ///   0a 0a "train/loss" (tag, field 1) and 15 + 2.5 as a little-endian float (simple_value, field 2).
    func testScalarEventBytes() {
        let event = Event(wallTime: 1.5, step: 10, content: .scalars([Scalar(tag: "train/loss", value: 2.5)]))
        XCTAssertEqual(hex(event.encoded), "09000000000000f83f" + "100a" + "2a13" + "0a11" + "0a0a" + "747261696e2f6c6f7373" + "1500002040")
    }

    /// file_version is field 3 (1a, 13 bytes); a version event at step 0 leaves the step out (proto3).
    /// SessionLog is field 7 (3a, 2 bytes) holding status (08) START (01). A negative step is a
    /// 10-byte varint.
    func testVersionStartAndNegativeStep() {
        XCTAssertEqual(hex(Event(wallTime: 1.5, step: 0, content: .fileVersion(Event.fileVersion)).encoded),
                       "09000000000000f83f" + "1a0d" + "627261696e2e4576656e743a32")
        XCTAssertEqual(hex(Event(wallTime: 1.5, step: 10, content: .sessionStart).encoded), "09000000000000f83f100a3a020801")
        XCTAssertEqual(hex(Event(wallTime: 1.5, step: -1, content: .other).encoded), "09000000000000f83f10ffffffffffffffffff01")
    }

    /// A whole record: length 32 (8 bytes), its masked CRC32C, the event, the event's masked CRC32C;
    /// the same bytes as TensorBoard's own RecordWriter writes for this event.
    func testRecordFraming() {
        let event = Event(wallTime: 1.5, step: 10, content: .scalars([Scalar(tag: "train/loss", value: 2.5)]))
        XCTAssertEqual(hex(TFRecord.framed(event.encoded)),
                       "2000000000000000" + "29eda950" + "09000000000000f83f100a2a130a110a0a747261696e2f6c6f73731500002040" + "d6835a8a")
    }

    /// What is written decodes to the same event, NaN's bits and a tag in Greek included.
    func testRoundTrip() throws {
        let events = [
            Event(wallTime: 1_764_590_000.25, step: 1234, content: .scalars([Scalar(tag: "validation/loss/el", value: 3.25),
                                                                              Scalar(tag: "ελληνικά", value: .nan),
                                                                              Scalar(tag: "train/lr", value: 3e-3)])),
            Event(wallTime: 2, step: 0, content: .fileVersion(Event.fileVersion)),
            Event(wallTime: 3, step: 11, content: .sessionStart),
        ]
        for event in events {
            let decoded = try Event(decoding: event.encoded[...])
            XCTAssertEqual(decoded.wallTime, event.wallTime)
            XCTAssertEqual(decoded.step, event.step)
            if case .scalars(let a) = decoded.content, case .scalars(let b) = event.content {
                XCTAssertEqual(a.map(\.tag), b.map(\.tag))
                XCTAssertEqual(a.map(\.value.bitPattern), b.map(\.value.bitPattern))
            } else {
                XCTAssertEqual(decoded.content, event.content)
            }
        }
    }

    /// Bytes that are not an event say where they go wrong.
    func testMalformedEventIsAnError() {
        // field 2 as a varint whose continuation bit never ends
        XCTAssertThrowsError(try Event(decoding: [0x10, 0xFF, 0xFF][...])) { XCTAssertTrue("\($0)".contains("runs past the end"), "\($0)") }
        // a length-delimited field longer than the message
        XCTAssertThrowsError(try Event(decoding: [0x2A, 0x40, 0x00][...])) { XCTAssertTrue("\($0)".contains("claims 64 bytes"), "\($0)") }
        // wire type 3 (a group), which events never use
        XCTAssertThrowsError(try Event(decoding: [0x0B][...])) { XCTAssertTrue("\($0)".contains("wire type 3"), "\($0)") }
    }
}

/// One entry of a TensorBoard events file, as tensorboard/compat/proto/event.proto and
/// summary.proto define it, for the three kinds atelier writes: the file's version, a summary of
/// scalars, and a session's START (which tells a TensorBoard that already read a crashed launch's
/// later steps to forget them).
public struct Event: Equatable, Sendable {
    public enum Content: Equatable, Sendable {
        case fileVersion(String)     // Event.file_version = 3; first in every file
        case scalars([Scalar])       // Event.summary = 5 -> Summary.value = 1 -> Value { tag = 1, simple_value = 2 }
        case sessionStart            // Event.session_log = 7 -> SessionLog.status = 1, START = 1
        case other                   // read from a file: anything else (a graph, an image, a STOP)
    }

    public var wallTime: Double      // seconds since 1970
    public var step: Int64
    public var content: Content

    public init(wallTime: Double, step: Int64, content: Content) {
        self.wallTime = wallTime
        self.step = step
        self.content = content
    }

    /// The version TensorBoard's readers expect; 2 turns on purging by SessionLog START.
    public static let fileVersion = "brain.Event:2"

    /// The protobuf bytes: fields in number order, step left out at 0 (proto3's default).
    public var encoded: [UInt8] {
        var w = ProtobufWriter()
        w.double(field: 1, wallTime)
        if step != 0 { w.int64(field: 2, step) }
        switch content {
        case .fileVersion(let version): w.string(field: 3, version)
        case .scalars(let scalars):
            w.message(field: 5) { summary in
                for s in scalars {
                    summary.message(field: 1) { value in
                        value.string(field: 1, s.tag)
                        value.float(field: 2, s.value)
                    }
                }
            }
        case .sessionStart: w.message(field: 7) { $0.int64(field: 1, 1) }
        case .other: break
        }
        return w.bytes
    }

    /// Decodes an event; a summary holding anything but simple values, or a session log other than
    /// START, is `.other`.
    public init(decoding bytes: ArraySlice<UInt8>) throws {
        var r = ProtobufReader(bytes)
        wallTime = 0
        step = 0
        content = .other
        while let (field, value) = try r.next() {
            switch (field, value) {
            case (1, .fixed64(let bits)): wallTime = Double(bitPattern: bits)
            case (2, .varint(let v)): step = Int64(bitPattern: v)
            case (3, .lengthDelimited(let text)): content = .fileVersion(String(decoding: text, as: UTF8.self))
            case (5, .lengthDelimited(let summary)): content = try Self.scalars(summary).map(Content.scalars) ?? .other
            case (7, .lengthDelimited(let log)):
                var status: UInt64 = 0
                var fields = ProtobufReader(log)
                while let (f, v) = try fields.next() { if f == 1, case .varint(let s) = v { status = s } }
                content = status == 1 ? .sessionStart : .other
            default: break
            }
        }
    }

    private static func scalars(_ summary: ArraySlice<UInt8>) throws -> [Scalar]? {
        var out: [Scalar] = []
        var r = ProtobufReader(summary)
        while let (field, value) = try r.next() {
            guard field == 1, case .lengthDelimited(let bytes) = value else { continue }
            var tag: String?, number: Float?
            var v = ProtobufReader(bytes)
            while let (f, x) = try v.next() {
                switch (f, x) {
                case (1, .lengthDelimited(let text)): tag = String(decoding: text, as: UTF8.self)
                case (2, .fixed32(let bits)): number = Float(bitPattern: bits)
                case (7, _): break      // node_name: ignored, as TensorBoard does
                default: return nil
                }
            }
            guard let tag, let number else { return nil }
            out.append(Scalar(tag: tag, value: number))
        }
        return out
    }
}

/// A named value at a step: TensorBoard stores scalars as float32 (`simple_value`).
public struct Scalar: Equatable, Sendable {
    public let tag: String
    public let value: Float

    public init(tag: String, value: Float) {
        self.tag = tag
        self.value = value
    }
}

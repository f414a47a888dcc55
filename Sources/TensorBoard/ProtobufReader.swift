/// Reads a protobuf message's fields in order, for events read back from a file (a resumed run
/// keeps the records up to its iteration). Unknown fields are skipped by their wire type;
/// anything that does not parse is a `ProtobufReader.Malformed` at its byte offset.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    struct Malformed: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "malformed protobuf at byte \(offset): \(reason)" }
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// The next field's number and value, or nil at the end of the message.
    mutating func next() throws -> (field: Int, value: Value)? {
        guard position < bytes.endIndex else { return nil }
        let start = position
        let key = try varint()
        let field = Int(truncatingIfNeeded: key >> 3)
        guard field > 0, key >> 3 <= 0x1FFF_FFFF else { throw Malformed(offset: start, reason: "field number \(key >> 3)") }
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1: return (field, .fixed64(try little(8)))
        case 5: return (field, .fixed32(UInt32(try little(4))))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw Malformed(offset: start, reason: "field \(field) claims \(length) bytes; \(bytes.endIndex - position) remain")
            }
            let end = position + Int(length)
            defer { position = end }
            return (field, .lengthDelimited(bytes[position..<end]))
        default: throw Malformed(offset: start, reason: "wire type \(key & 7) of field \(field)")
        }
    }

    private mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard position < bytes.endIndex else { throw Malformed(offset: position, reason: "a varint runs past the end") }
            let b = bytes[position]
            position += 1
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
        }
        throw Malformed(offset: position, reason: "a varint longer than 10 bytes")
    }

    private mutating func little(_ count: Int) throws -> UInt64 {
        guard bytes.endIndex - position >= count else { throw Malformed(offset: position, reason: "a \(count)-byte field runs past the end") }
        var value: UInt64 = 0
        for i in 0..<count { value |= UInt64(bytes[position + i]) << (8 * i) }
        position += count
        return value
    }
}

/// BLOOM's pre-tokenizer: Hugging Face's `Split` with the regex ` ?[^(\s|[.,!?…。，、।۔،])]+`,
/// behaviour "Isolated". A match is an optional space and a run of characters that are neither
/// white space (Unicode White_Space) nor one of `( | ) . , ! ? … 。 ， 、 । ۔ ،`; the text between
/// matches is kept as its own piece. Works on UTF-8 bytes; pieces are byte ranges.
public enum BloomPreTokenizer {
    /// Calls `piece` with the byte range of every piece of `text`, in order.
    @inline(__always)
    public static func split(_ text: UnsafeBufferPointer<UInt8>, _ piece: (Range<Int>) -> Void) {
        let n = text.count
        var i = 0
        var gapStart = 0
        while i < n {
            // does a match start at i?
            var start = -1
            var j = i
            if text[i] == 0x20 {
                let (scalar, length) = decodeScalar(text, i + 1)
                if i + 1 < n && isWordScalar(scalar) { start = i; j = i + 1 + length }
            } else {
                let (scalar, length) = decodeScalar(text, i)
                if isWordScalar(scalar) { start = i; j = i + length }
            }
            guard start >= 0 else {
                i += scalarLength(text[i])
                continue
            }
            while j < n {
                let (scalar, length) = decodeScalar(text, j)
                guard isWordScalar(scalar) else { break }
                j += length
            }
            if gapStart < start { piece(gapStart..<start) }
            piece(start..<j)
            i = j
            gapStart = j
        }
        if gapStart < n { piece(gapStart..<n) }
    }

    /// Characters a match is made of.
    @inline(__always)
    static func isWordScalar(_ s: UInt32) -> Bool {
        if s < 0x80 {
            return asciiWord[Int(s)]
        }
        switch s {
        case 0x2026, 0x3002, 0xFF0C, 0x3001, 0x0964, 0x06D4, 0x060C: return false   // … 。 ， 、 । ۔ ،
        case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return false  // White_Space
        case 0xFFFF_FFFF: return false
        default: return true
        }
    }

    static let asciiWord: [Bool] = (0..<128).map { c in
        let excluded: Set<Int> = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x28, 0x29, 0x7C, 0x2E, 0x2C, 0x21, 0x3F]
        return !excluded.contains(c)
    }

    @inline(__always)
    static func scalarLength(_ lead: UInt8) -> Int {
        lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    /// The scalar at `i` of valid UTF-8 and its length; (0xFFFFFFFF, 1) past the end.
    @inline(__always)
    static func decodeScalar(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
        guard i < t.count else { return (0xFFFF_FFFF, 1) }
        let b0 = UInt32(t[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(t[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 { return ((b0 & 0x0F) << 12 | UInt32(t[i + 1] & 0x3F) << 6 | UInt32(t[i + 2] & 0x3F), 3) }
        return ((b0 & 0x07) << 18 | UInt32(t[i + 1] & 0x3F) << 12 | UInt32(t[i + 2] & 0x3F) << 6 | UInt32(t[i + 3] & 0x3F), 4)
    }
}

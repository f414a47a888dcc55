/// GPT-2's byte-level alphabet, as Hugging Face's ByteLevel pre-tokenizer and decoder use it:
/// every byte is one printable Unicode character (printable Latin-1 bytes stand for themselves,
/// the rest are shifted to U+0100 and up; the space becomes "Ġ"), so any byte string is a string
/// of these characters and the other way round.
public enum ByteLevel {
    /// The character of each byte.
    public static let characters: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(printable, codes) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }()

    /// The byte of each character of the alphabet.
    public static let bytes: [Character: UInt8] = {
        Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($0.element, UInt8($0.offset)) })
    }()

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        String(bytes.map { characters[Int($0)] })
    }

    /// The bytes a byte-level string stands for; nil if it has a character outside the alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for c in text {
            guard let b = bytes[c] else { return nil }
            out.append(b)
        }
        return out
    }
}

/// A guard in front of toml++ (inside TOMLKit): toml++ 3.4 asserts, and so aborts the process,
/// on some malformed input that it does not check itself (found by fuzzing, .ci/fuzz):
/// - a table header whose first key starts with a character that can begin no key: `[$a]`,
///   `[` at the end of a line, `[` followed by a form feed;
/// - a `}` where an array expects a value: `a = [}`.
/// This finds them first, so the user gets an error naming the line and column instead of a
/// crash. (Anything else toml++ asserts on is caught by `TOMLAssertionGuard`.)
enum TOMLInputCheck {
    struct Problem: Equatable {
        let line: Int, column: Int
        let message: String
    }

    /// The first place toml++ would assert on, if any.
    static func firstUnparsablePlace(_ text: String) -> Problem? {
        let chars = Array(text.unicodeScalars)
        var i = chars.first == "\u{FEFF}" ? 1 : 0
        var line = 1, lineStart = i
        var open: [Unicode.Scalar] = []   // the [ and { open inside a value
        var atStatementStart = true
        // toml++'s horizontal whitespace, exactly (is_horizontal_whitespace)
        func isHorizontalSpace(_ c: Unicode.Scalar) -> Bool {
            switch c.value {
            case 0x09, 0x20, 0xA0, 0x1680, 0x180E, 0x2000...0x200B, 0x202F, 0x205F...0x2060, 0x3000, 0xFEFF: return true
            default: return false
            }
        }
        func isKeyStart(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-" || c == "\"" || c == "'")
        }
        func skip(until terminator: [Unicode.Scalar], escapes: Bool, stopAtNewline: Bool) {
            while i < chars.count {
                if escapes && chars[i] == "\\" { i += 2; continue }
                if chars[i] == "\n" {
                    if stopAtNewline { return }
                    line += 1; lineStart = i + 1
                }
                if chars[i] == terminator[0] && i + terminator.count <= chars.count && Array(chars[i ..< i + terminator.count]) == terminator {
                    i += terminator.count
                    return
                }
                i += 1
            }
        }
        while i < chars.count {
            let c = chars[i]
            if atStatementStart && isHorizontalSpace(c) { i += 1; continue }
            if atStatementStart && c == "[" && open.isEmpty {
                var j = i + 1
                while j < chars.count && isHorizontalSpace(chars[j]) { j += 1 }
                if j < chars.count && chars[j] == "[" {
                    j += 1
                    while j < chars.count && isHorizontalSpace(chars[j]) { j += 1 }
                }
                if j >= chars.count || (!isKeyStart(chars[j]) && chars[j] != "]") {
                    let found = j < chars.count ? (chars[j] == "\n" ? "the end of the line" : "'\(chars[j])'") : "the end of the file"
                    return Problem(line: line, column: j - lineStart + 1, message: "a table header needs a key after '[', found \(found)")
                }
                // the rest of the header line: keys are single-line strings
                while i < chars.count && chars[i] != "\n" {
                    if chars[i] == "\"" { i += 1; skip(until: ["\""], escapes: true, stopAtNewline: true); continue }
                    if chars[i] == "'" { i += 1; skip(until: ["'"], escapes: false, stopAtNewline: true); continue }
                    i += 1
                }
                continue
            }
            atStatementStart = false
            switch c {
            case "\n":
                line += 1; lineStart = i + 1
                if open.isEmpty { atStatementStart = true }
                i += 1
            case "#":
                while i < chars.count && chars[i] != "\n" { i += 1 }
            case "\"":
                let multi = i + 2 < chars.count && chars[i + 1] == "\"" && chars[i + 2] == "\""
                i += multi ? 3 : 1
                skip(until: multi ? ["\"", "\"", "\""] : ["\""], escapes: true, stopAtNewline: !multi)
            case "'":
                let multi = i + 2 < chars.count && chars[i + 1] == "'" && chars[i + 2] == "'"
                i += multi ? 3 : 1
                skip(until: multi ? ["'", "'", "'"] : ["'"], escapes: false, stopAtNewline: !multi)
            case "[", "{": open.append(c); i += 1
            case "]", "}":
                if let last = open.last, (last == "[") != (c == "]") {
                    return Problem(line: line, column: i - lineStart + 1, message: "'\(c)' cannot close the '\(last)' opened before it")
                }
                _ = open.popLast(); i += 1
            default: i += 1
            }
        }
        return nil
    }
}

/// CSV as RFC 4180 writes it: a field with a comma, a quote or a line break is quoted, quotes doubled.
public enum CSV {
    public static func field(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") }
}

/// Token ids of byte-level data (`ByteTextSource`): the 256 byte values, then the special tokens.
/// The job loader asks for at least `DataSource.Kind.bytesMinimumVocabulary` (260) ids for it.
public enum ByteVocabulary {
    public static let bos: Int32 = 256        // <s>
    public static let eos: Int32 = 257        // </s>, appended after each document
    public static let pad: Int32 = 258        // <pad>
                                              // and <unk> at 259, which byte-level encoding never produces
}

import HDF5

/// Texts a checkpoint carries for other stages, as NamedNumbers carries the accounting totals: the
/// checkpoint stores and returns them; it does not interpret them. Each is absent from files written
/// before it existed (and from runs that have none).
public struct CarriedTexts: Equatable, Sendable {
    /// The model's lineage as JSON (`/state/lineage`; AtelierAccounting's `LineageFile` reads it):
    /// who trained it, where, and the models it started from.
    public var lineage: String?
    /// The newest validation as JSON (`/state/validation`): the iteration and, per dataset, loss and bits per byte.
    public var validation: String?

    public init(lineage: String? = nil, validation: String? = nil) { (self.lineage, self.validation) = (lineage, validation) }

    static let lineageDataset = "/state/lineage", validationDataset = "/state/validation"
    static let maxBytes = 4 << 20   // a lineage of thousands of ancestors; more is not a checkpoint of ours

    /// The datasets to write, with their texts.
    var datasets: [(String, String)] {
        [(Self.lineageDataset, lineage), (Self.validationDataset, validation)].compactMap { name, text in text.map { (name, $0) } }
    }

    init(_ file: H5File) throws {
        func text(_ name: String) throws -> String? { file.exists(name) ? try file.readText(name, maxBytes: Self.maxBytes) : nil }
        self.init(lineage: try text(Self.lineageDataset), validation: try text(Self.validationDataset))
    }
}

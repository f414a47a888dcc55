/// What forward keeps for backward, and what backward runs again instead (`train.recompute`).
public enum Recompute: String, Equatable, Sendable, CaseIterable {
    /// Keep every block's activations: the fastest, the most memory.
    case none
    /// Keep each block's input and MLP activations; backward redoes ln1, qkv and attention.
    case attention
    /// Keep only each block's input [B, T, C]; backward redoes the whole block's forward first.
    case blocks
}

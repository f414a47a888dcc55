/// The element types a Hugging Face checkpoint stores floats in, as safetensors names them.
/// Atelier computes in fp32: F16 and BF16 are widened on load (exactly: every bf16 and f16 value
/// is an fp32 value) and narrowed on export by rounding to nearest, ties to even, as PyTorch's
/// `tensor.to(torch.bfloat16)` / `.half()` do; values beyond f16's range become +-inf there.
public enum TensorDType: String, CaseIterable, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 2 }

    /// The name `--dtype` takes and config.json's `torch_dtype` writes.
    public var optionName: String { rawValue.lowercased() }
    public var torchName: String {
        switch self {
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        }
    }

    public init?(optionName: String) { self.init(rawValue: optionName.uppercased()) }

    /// Widens `count` little-endian elements at `source` into fp32 at `out`.
    public func widen(_ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: count * 4)
        case .bf16:
            for i in 0..<count { out[i] = Self.widenBF16(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .f16:
            for i in 0..<count { out[i] = Self.widenF16(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        }
    }

    /// Narrows `count` fp32 values into little-endian elements at `out`.
    public func narrow(_ values: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        switch self {
        case .f32:
            out.copyMemory(from: values, byteCount: count * 4)
        case .bf16:
            for i in 0..<count { out.storeBytes(of: Self.narrowBF16(values[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .f16:
            for i in 0..<count { out.storeBytes(of: Self.narrowF16(values[i]), toByteOffset: 2 * i, as: UInt16.self) }
        }
    }

    /// bf16 is fp32's upper half.
    @inline(__always) public static func widenBF16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Rounds to the nearest bf16, ties to even; NaN stays a (quiet) NaN.
    @inline(__always) public static func narrowBF16(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let roundingBias = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ roundingBias) >> 16)
    }

    /// IEEE half precision: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals included.
    @inline(__always) public static func widenF16(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1F, mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }   // inf, NaN
        if exponent == 0 {   // zero or subnormal: mantissa x 2^-24
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
    }

    /// Rounds to the nearest f16, ties to even; beyond 65504 (after rounding) gives +-inf.
    @inline(__always) public static func narrowF16(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF), mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }             // inf, NaN
        let unbiased = exponent - 127
        if unbiased > 15 { return sign | 0x7C00 }                                               // overflow
        if unbiased >= -14 {                                                                    // normal
            var half = UInt32(unbiased + 15) << 10 | mantissa >> 13
            let rest = mantissa & 0x1FFF
            if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }                 // may carry into inf: right
            return sign | UInt16(half)
        }
        if unbiased < -25 { return sign }                                                       // below half the smallest subnormal
        // subnormal: the value is (1.mantissa) x 2^unbiased = m x 2^-24 with m = full >> shift
        let full = mantissa | 0x80_0000, shift = UInt32(-unbiased - 1)                          // 14 ... 24
        var half = full >> shift
        let rest = full & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
        if rest > halfway || (rest == halfway && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }
}

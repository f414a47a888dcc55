/// LayerNorm over the last dimension (biased variance, as torch.nn.LayerNorm).
public enum LayerNorm {
    /// x [N, C] -> out [N, C]; saves mean [N] and rstd [N] for backward.
    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                               rstd: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               rows N: Int, channels C: Int, eps: Float) {
        let invC = 1 / Float(C)
        for n in 0..<N {
            let xr = x + n * C, yr = out + n * C
            let m = vsum(xr, C) * invC
            let mv = Vec(repeating: m)
            var acc = Vec()
            var i = 0
            while i + 16 <= C { let d = load(xr + i) - mv; acc += d * d; i += 16 }
            var v = acc.sum()
            while i < C { let d = xr[i] - m; v += d * d; i += 1 }
            let s = 1 / (v * invC + eps).squareRoot()
            let sv = Vec(repeating: s)
            i = 0
            while i + 16 <= C { store((load(xr + i) - mv) * sv * load(weight + i) + load(bias + i), yr + i); i += 16 }
            while i < C { yr[i] = (xr[i] - m) * s * weight[i] + bias[i]; i += 1 }
            mean[n] = m
            rstd[n] = s
        }
    }

    /// dout [N, C] -> dx [N, C] (accumulated: +=), dweight [C] and dbias [C] (accumulated).
    public static func backward(dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                rows N: Int, channels C: Int) {
        let invC = 1 / Float(C)
        for n in 0..<N {
            let xr = x + n * C, dyr = dout + n * C, dxr = dx + n * C
            let mv = Vec(repeating: mean[n]), sv = Vec(repeating: rstd[n])
            // mean(dnorm) and mean(dnorm * norm), dnorm = dout * weight
            var a1 = Vec(), a2 = Vec()
            var i = 0
            while i + 16 <= C {
                let norm = (load(xr + i) - mv) * sv
                let dn = load(dyr + i) * load(weight + i)
                a1 += dn; a2 += dn * norm
                store(load(dbias + i) + load(dyr + i), dbias + i)
                store(load(dweight + i) + load(dyr + i) * norm, dweight + i)
                i += 16
            }
            var s1 = a1.sum(), s2 = a2.sum()
            while i < C {
                let norm = (xr[i] - mean[n]) * rstd[n]
                let dn = dyr[i] * weight[i]
                s1 += dn; s2 += dn * norm
                dbias[i] += dyr[i]
                dweight[i] += dyr[i] * norm
                i += 1
            }
            let m1 = Vec(repeating: s1 * invC), m2 = Vec(repeating: s2 * invC)
            i = 0
            while i + 16 <= C {
                let norm = (load(xr + i) - mv) * sv
                let dn = load(dyr + i) * load(weight + i)
                store(load(dxr + i) + (dn - m1 - norm * m2) * sv, dxr + i)
                i += 16
            }
            while i < C {
                let norm = (xr[i] - mean[n]) * rstd[n]
                let dn = dyr[i] * weight[i]
                dxr[i] += (dn - s1 * invC - norm * s2 * invC) * rstd[n]
                i += 1
            }
        }
    }
}

// Sizes computed from job fields (vocab x hidden, B x T x V, layers x 12 x hidden^2, ...), with
// overflow checks: a product or sum that does not fit in an Int is nil instead of a trap, so the
// caller can refuse the job naming the field.

/// The product of `factors`, or nil when it does not fit in an Int.
public func checkedProduct(_ factors: Int...) -> Int? {
    var result = 1
    for f in factors {
        let (p, overflow) = result.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        result = p
    }
    return result
}

/// The sum of `terms`, or nil when a term is nil or the sum does not fit in an Int.
public func checkedSum(_ terms: [Int?]) -> Int? {
    var result = 0
    for t in terms {
        guard let t else { return nil }
        let (s, overflow) = result.addingReportingOverflow(t)
        if overflow { return nil }
        result = s
    }
    return result
}

package cpu

import "math"

// Constants of expNeg: adding roundMagic (1.5·2⁵²) to a float64 of
// magnitude below 2⁵¹ rounds it to an integer held in the low mantissa
// bits; ln2Hi + ln2Lo is ln 2 split so that n·ln2Hi is exact.
const (
	roundMagic = 6755399441055744.0
	ln2Hi      = 6.93147180369123816490e-01
	ln2Lo      = 1.90821492927058770002e-10
)

// expNeg returns eˣ for x ≤ 0 (0 below −708) with a relative error below
// 1e-8, plenty for float32 results: x = n·ln2 + f with |f| ≤ ln2/2, e^f is
// a degree-7 polynomial evaluated in Estrin's scheme (short dependency
// chains, so the exponentials of a row overlap in the pipeline), and 2ⁿ goes
// into the exponent bits. It is several times faster than math.Exp, which
// dominated the softmax of wide multiclass tasks.
func expNeg(x float64) float64 {
	if !(x >= -708) {
		return 0
	}
	t := x*math.Log2E + roundMagic
	n := int64(math.Float64bits(t) - math.Float64bits(roundMagic))
	nf := t - roundMagic
	f := (x - nf*ln2Hi) - nf*ln2Lo
	f2 := f * f
	p := (1 + f + f2*(1.0/2+f*(1.0/6))) + f2*f2*((1.0/24+f*(1.0/120))+f2*(1.0/720+f*(1.0/5040)))
	return p * math.Float64frombits(uint64(n+1023)<<52)
}

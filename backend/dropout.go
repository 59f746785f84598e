package backend

import (
	"fmt"
	"math"
)

// Dropout masks are stateless: whether an element is kept is a hash of a
// 64-bit key and the element's index, so that the same key gives the same
// mask on every backend and thread count, in the forward pass and again in
// the backward pass, and after a run is resumed. The caller derives the key
// from whatever identifies the mask (a trainer: its seed, the step, the
// member and the layer).
//
// Element (i, j) of a rows×cols operand has index x = i·cols + j (its place
// in the operand, not in the buffer, so a padded view and a dense one get
// the same mask). With key = hi·2³² + lo and fmix32 MurmurHash3's 32-bit
// finaliser,
//
//	h(x) = fmix32(fmix32(x ⊕ lo) ⊕ hi)
//	keep(x) = ⌊h(x) / 2⁸⌋ ≥ t,   t = round(p·2²⁴)
//
// so an element is kept with probability q = 1 − t/2²⁴, which is 1 − p to
// within 2⁻²⁵, and kept elements are scaled by 1/q (inverted dropout: the
// expected value of an element is unchanged). The comparison is on
// integers, so no backend rounds it differently.

// dropoutBits is the number of bits of the hash compared with the
// threshold.
const dropoutBits = 24

// fmix32 is MurmurHash3's finaliser, a bijection of 32-bit words in which
// every input bit affects every output bit.
func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// DropoutHash returns the hash h(index) of an element under key.
func DropoutHash(key uint64, index uint32) uint32 {
	return fmix32(fmix32(index^uint32(key)) ^ uint32(key>>32))
}

// DropoutThreshold returns the threshold t = round(p·2²⁴) that the top 24
// bits of an element's hash must reach for it to be kept.
func DropoutThreshold(p float32) uint32 {
	return uint32(math.Round(float64(p) * (1 << dropoutBits)))
}

// DropoutScale returns the factor of kept elements, 1/q with q the
// probability that an element is kept at rate p.
func DropoutScale(p float32) float32 {
	const n = 1 << dropoutBits
	return float32(n / float64(n-DropoutThreshold(p)))
}

// DropoutKeep reports whether the mask of key keeps the element of the
// given index at rate p.
func DropoutKeep(key uint64, index uint32, p float32) bool {
	return DropoutHash(key, index)>>(32-dropoutBits) >= DropoutThreshold(p)
}

// CheckDropout checks the operands of Dropout: dst and src of one shape,
// row0 ≥ 0 and p in [0, 1).
func CheckDropout(dst, src Mat, row0 int, p float32) {
	dst.Check("Dropout dst", Float32)
	src.Check("Dropout src", Float32)
	SameShape("Dropout", dst, src)
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("backend: Dropout: rate %g outside [0, 1)", p))
	}
	if row0 < 0 {
		panic(fmt.Sprintf("backend: Dropout: first row %d < 0", row0))
	}
	if uint64(row0+dst.Rows)*uint64(dst.Cols) > math.MaxUint32 {
		panic(fmt.Sprintf("backend: Dropout: %d×%d elements from row %d do not have 32-bit indices", dst.Rows, dst.Cols, row0))
	}
}

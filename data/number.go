package data

import (
	"math"
	"unsafe"
)

// exactPow10 holds the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parsePlainDecimal parses s when it is a plain decimal, [+-]digits[.digits]
// (either run of digits may be empty, not both), whose digits form an
// integer below 2⁵³ and which has at most 22 digits after the point. Then
// both the integer and the power of ten are exact in float64 and one
// correctly rounded division gives exactly what strconv.ParseFloat gives
// (Clinger's fast path, which strconv takes too). Anything else returns
// ok = false, for the caller to fall back to strconv.
func parsePlainDecimal(s []byte) (v float64, ok bool) {
	n := len(s)
	if n == 0 || n > 21 {
		return 0, false
	}
	i := 0
	neg := s[0] == '-'
	if neg || s[0] == '+' {
		i = 1
	}
	// The integer part, then the fraction: two tight loops. Up to 21
	// digits may overflow the mantissa, which the count of digits below
	// then refuses.
	var mant uint64
	start := i
	for i < n {
		d := s[i] - '0'
		if d > 9 {
			break
		}
		mant = mant*10 + uint64(d)
		i++
	}
	digits := i - start
	frac := 0
	if i < n && s[i] == '.' {
		i++
		start = i
		for i < n {
			d := s[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
		}
		frac = i - start
		digits += frac
	}
	if i != n || digits == 0 || digits > 19 || mant >= 1<<53 {
		return 0, false
	}
	v = float64(mant)
	if frac > 0 {
		v /= exactPow10[frac]
	}
	if neg {
		v = -v
	}
	return v, true
}

// parseCellBytes classifies a trimmed cell exactly as parseCell does, and
// returns its value for cellNumber and cellNonFinite. Plain decimals take
// a fast path; the rest go through parseCell.
func parseCellBytes(s []byte) (cellKind, float64) {
	if v, ok := parsePlainDecimal(s); ok {
		return cellNumber, v
	}
	if len(s) == 0 {
		return cellMissing, 0
	}
	// strconv.ParseFloat accepts only a sign, a digit, a point or the
	// first letter of "inf", "infinity" or "nan" first; anything else is
	// text, decided here without the cost of its error value.
	c := s[0]
	if c == '+' || c == '-' {
		if len(s) == 1 {
			return cellText, 0
		}
		c = s[1]
	}
	switch {
	case c >= '0' && c <= '9', c == '.', c == 'i', c == 'I', c == 'n', c == 'N':
	default:
		if len(s) == 1 && s[0] == '?' {
			return cellMissing, 0
		}
		return cellText, 0
	}
	return parseCell(unsafe.String(unsafe.SliceData(s), len(s)))
}

// cellNum is the value an Auto column holds for a cell of the given kind.
func cellNum(kind cellKind, v float64) float64 {
	if kind == cellNumber || (kind == cellNonFinite && math.IsInf(v, 0)) {
		return v
	}
	return math.NaN()
}

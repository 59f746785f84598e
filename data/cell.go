package data

import (
	"math"
	"strconv"
	"strings"
)

// IsMissing reports whether a cell stands for a missing value: after
// trimming white space it is empty, "?", "NA" or "NaN" (the last two in any
// case).
func IsMissing(cell string) bool {
	s := strings.TrimSpace(cell)
	switch len(s) {
	case 0:
		return true
	case 1:
		return s == "?"
	case 2:
		return strings.EqualFold(s, "NA")
	case 3:
		return strings.EqualFold(s, "NaN")
	}
	return false
}

// cellKind is what a single cell holds.
type cellKind int

const (
	cellMissing   cellKind = iota // see IsMissing
	cellNumber                    // a finite number
	cellNonFinite                 // a number that is infinite: "inf", "1e999"
	cellText                      // anything else
)

// parseCell classifies a cell and, for cellNumber, returns its value. A
// cell that IsMissing is never a number, so "NaN" is missing rather than
// non-finite.
func parseCell(cell string) (cellKind, float64) {
	if IsMissing(cell) {
		return cellMissing, 0
	}
	s := strings.TrimSpace(cell)
	// strconv accepts Go literal syntax that no spreadsheet writes (digit
	// separators, hexadecimal mantissas); such cells are text.
	if strings.ContainsAny(s, "_xX") {
		return cellText, 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && math.IsInf(v, 0) {
			return cellNonFinite, v
		}
		return cellText, 0
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return cellNonFinite, v
	}
	return cellNumber, v
}

package data

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseCell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cell string
		kind cellKind
		v    float64
	}{
		{"", cellMissing, 0},
		{"   ", cellMissing, 0},
		{"?", cellMissing, 0},
		{" ? ", cellMissing, 0},
		{"NA", cellMissing, 0},
		{"na", cellMissing, 0},
		{"nA", cellMissing, 0},
		{"NaN", cellMissing, 0},
		{"nan", cellMissing, 0},
		{" NAN\t", cellMissing, 0},
		{"??", cellText, 0},
		{"N/A", cellText, 0},
		{"NAs", cellText, 0},
		{"0", cellNumber, 0},
		{" -1.5 ", cellNumber, -1.5},
		{"+2", cellNumber, 2},
		{"1e3", cellNumber, 1000},
		{".5", cellNumber, 0.5},
		{"1e-400", cellNumber, 0},
		{"inf", cellNonFinite, math.Inf(1)},
		{"-Infinity", cellNonFinite, math.Inf(-1)},
		{"1e999", cellNonFinite, math.Inf(1)},
		{"-1e999", cellNonFinite, math.Inf(-1)},
		{"1_000", cellText, 0},
		{"0x10", cellText, 0},
		{"0x1p-2", cellText, 0},
		{"abc", cellText, 0},
		{"1,5", cellText, 0},
		{"12abc", cellText, 0},
	}
	for _, tc := range tests {
		kind, v := parseCell(tc.cell)
		if kind != tc.kind || (kind != cellText && kind != cellMissing && v != tc.v) {
			t.Errorf("parseCell(%q) = %v, %v; want %v, %v", tc.cell, kind, v, tc.kind, tc.v)
		}
		if got := IsMissing(tc.cell); got != (tc.kind == cellMissing) {
			t.Errorf("IsMissing(%q) = %v", tc.cell, got)
		}
	}
}

func FuzzParseCell(f *testing.F) {
	for _, s := range []string{"", "?", "NA", "nan", "1.5", "-inf", "1e999", "abc", "0x1p3", "1_0", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		kind, v := parseCell(cell)
		switch kind {
		case cellMissing:
			if !IsMissing(cell) {
				t.Fatalf("%q: missing but not IsMissing", cell)
			}
		case cellNumber:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%q: number %v not finite", cell, v)
			}
			// A number reads back from its shortest form.
			if k2, v2 := parseCell(strconv.FormatFloat(v, 'g', -1, 64)); k2 != cellNumber || v2 != v {
				t.Fatalf("%q: %v does not round-trip (%v, %v)", cell, v, k2, v2)
			}
			// Surrounding white space does not matter.
			if k2, v2 := parseCell(" " + cell + "\t"); k2 != kind || v2 != v {
				t.Fatalf("%q: padding changes the cell", cell)
			}
		case cellNonFinite:
			if !math.IsInf(v, 0) {
				t.Fatalf("%q: non-finite %v", cell, v)
			}
		case cellText:
			if IsMissing(cell) || strings.TrimSpace(cell) == "" {
				t.Fatalf("%q: text but missing", cell)
			}
		default:
			t.Fatalf("%q: kind %v", cell, kind)
		}
	})
}

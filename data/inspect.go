package data

import (
	"context"
	"math"
	"math/bits"
)

// ColumnTypes returns the type of each column of src as its format names
// it: a Parquet file's schema types, "float32" or "float64" for a NumPy
// matrix, and "text" for every column of a text file.
func ColumnTypes(src Source) []string {
	if ts, ok := src.(interface{ ColumnTypes() []string }); ok {
		return ts.ColumnTypes()
	}
	types := make([]string, len(src.Columns()))
	for i := range types {
		types[i] = "text"
	}
	return types
}

// InspectOptions tunes Inspect.
type InspectOptions struct {
	// Options, when they name tasks, a group column and so on, say what
	// role each column would get; the zero value makes every column an
	// input.
	Options Options
	// ExactDistinct is the number of distinct values up to which a
	// column's count is exact; past it, the count is a HyperLogLog
	// estimate (about 1% off). Default 10,000.
	ExactDistinct int
}

// ColumnSummary describes one column of a source.
type ColumnSummary struct {
	// Name is the column name and Type its type as the format names it
	// (see ColumnTypes).
	Name, Type string
	// Kind is what fitting would make of the column: "numeric",
	// "categorical" (one-hot), "embedded", "label" (a target), "group" or
	// "ignored".
	Kind string
	// Missing counts the missing cells (see IsMissing; a null), Numbers
	// the finite numbers and Texts the rest (texts and infinities).
	Missing, Numbers, Texts int64
	// Distinct is the number of distinct values that are not missing:
	// exact when DistinctExact, else an estimate. Numbers count by value
	// ("1.50" and "1.5" are one value).
	Distinct      int64
	DistinctExact bool
	// Min, Max and Mean are those of the numbers (NaN without numbers).
	Min, Max, Mean float64
}

// Summary describes a source, as Inspect finds it.
type Summary struct {
	// Name is the source's name and Rows its number of rows.
	Name string
	Rows int64
	// Columns holds one summary per column, in order.
	Columns []ColumnSummary
}

// Inspect summarises a source in one pass without holding it: per
// column, its type, the kind fitting would give it under opts.Options,
// its missing values and its distinct values (exact up to
// opts.ExactDistinct, then estimated), and the range and mean of its
// numbers. Its memory does not grow with the number of rows.
func Inspect(ctx context.Context, src Source, opts InspectOptions) (*Summary, error) {
	if opts.ExactDistinct <= 0 {
		opts.ExactDistinct = 10_000
	}
	header := src.Columns()
	roles, err := resolveRoles(src.Name(), header, opts.Options)
	if err != nil {
		return nil, err
	}
	emb, err := resolveEmbed(src.Name(), header, roles, opts.Options)
	if err != nil {
		return nil, err
	}
	types := ColumnTypes(src)
	acc := make([]*inspectColumn, len(header))
	for c := range acc {
		acc[c] = &inspectColumn{exact: map[uint64]struct{}{}, limit: opts.ExactDistinct, min: math.Inf(1), max: math.Inf(-1)}
	}
	var rows int64
	var cells cellCache
	var hashes []uint64
	err = src.Scan(ctx, Wants(len(header), Auto), func(b *Block) error {
		rows += int64(b.N)
		for c, a := range acc {
			col := &b.Cols[c]
			if col.Codes != nil {
				cells.of(col)
				hashes = hashes[:0]
				for _, s := range col.Dict {
					hashes = append(hashes, hashText(s))
				}
			}
			for i := range b.N {
				if col.Codes == nil || col.Codes[i] < 0 {
					a.number(col.Num[i])
					continue
				}
				k := col.Codes[i]
				switch cells.kind[k] {
				case cellMissing:
					a.missing++
				case cellNumber:
					a.number(cells.value[k])
				default:
					a.texts++
					a.add(hashes[k])
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sum := &Summary{Name: src.Name(), Rows: rows}
	for c, a := range acc {
		cs := ColumnSummary{Name: header[c], Type: types[c], Missing: a.missing, Numbers: a.numbers, Texts: a.texts,
			Min: math.NaN(), Max: math.NaN(), Mean: math.NaN()}
		cs.Distinct, cs.DistinctExact = a.distinct()
		if a.numbers > 0 {
			cs.Min, cs.Max, cs.Mean = a.min, a.max, a.moments.mean
		}
		switch {
		case roles.specOf[c] != 0:
			cs.Kind = "label"
		case c == roles.group:
			cs.Kind = "group"
		case roles.ignored[c]:
			cs.Kind = "ignored"
		case !roles.forced[c] && !emb.named(c) && cs.Texts == 0:
			cs.Kind = "numeric"
		default:
			// The categories of a categorical column count its missing
			// tokens too, which are fewer than its missing cells.
			n := cs.Distinct + min(cs.Missing, 1)
			cs.Kind = "categorical"
			if emb.named(c) || (emb.oneHot >= 0 && n > int64(emb.oneHot)) {
				cs.Kind = "embedded"
			}
		}
		sum.Columns = append(sum.Columns, cs)
	}
	return sum, nil
}

// inspectColumn is what Inspect learns of a column.
type inspectColumn struct {
	missing, numbers, texts int64
	min, max                float64
	moments                 welford
	exact                   map[uint64]struct{} // hashes of the values, until limit
	limit                   int
	hll                     hyperLogLog
}

func (a *inspectColumn) number(v float64) {
	if math.IsNaN(v) {
		a.missing++
		return
	}
	if math.IsInf(v, 0) {
		a.texts++
		a.add(mix64(math.Float64bits(v)))
		return
	}
	a.numbers++
	a.min, a.max = min(a.min, v), max(a.max, v)
	a.moments.add(v)
	if v == 0 {
		v = 0 // -0 and 0 are one value
	}
	a.add(mix64(math.Float64bits(v)))
}

func (a *inspectColumn) add(h uint64) {
	a.hll.add(h)
	if a.exact != nil {
		a.exact[h] = struct{}{}
		if len(a.exact) > a.limit {
			a.exact = nil
		}
	}
}

// distinct returns the count of distinct values and whether it is exact.
func (a *inspectColumn) distinct() (int64, bool) {
	if a.exact != nil {
		return int64(len(a.exact)), true
	}
	return int64(math.Round(a.hll.estimate())), false
}

// mix64 is the finaliser of SplitMix64: a bijection that spreads the bits
// of x over the whole word.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashText is a 64-bit hash of a text: FNV-1a, then mix64. The text
// hashes differ from those of numbers (which are mix64 of their bits)
// except by chance.
func hashText(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h ^ 0x7465787400000000)
}

// hllBits is the precision of the HyperLogLog: 2¹⁴ registers, a standard
// error of 1.04/√2¹⁴ ≈ 0.8%.
const hllBits = 14

// hyperLogLog estimates the number of distinct 64-bit hashes it is given
// (Flajolet et al. 2007, with the small-range correction by linear
// counting).
type hyperLogLog struct {
	reg []uint8
}

func (h *hyperLogLog) add(x uint64) {
	if h.reg == nil {
		h.reg = make([]uint8, 1<<hllBits)
	}
	i := x >> (64 - hllBits)
	rank := uint8(bits.LeadingZeros64(x<<hllBits|1<<(hllBits-1))) + 1
	if rank > h.reg[i] {
		h.reg[i] = rank
	}
}

func (h *hyperLogLog) estimate() float64 {
	if h.reg == nil {
		return 0
	}
	m := float64(len(h.reg))
	var sum float64
	zeros := 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros))
	}
	return e
}

package data

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Defaults of the options that turn categorical columns into embeddings.
const (
	// DefaultOneHotMax is the number of distinct training values up to
	// which a categorical column is one-hot encoded; a column with more
	// becomes an embedding. Every categorical column of the shared data
	// sets has at most 42 values, so they stay one-hot.
	DefaultOneHotMax = 64
	// DefaultMinCount is the number of training rows a value needs for a
	// row of its own in an embedding table: 1, every value seen.
	DefaultMinCount = 1
	// DefaultEmbedDimMax caps the width the default rule gives an
	// embedding.
	DefaultEmbedDimMax = 64
)

// ColumnSize names a size for the columns a pattern matches: an embedding
// width (Options.Embed) or a number of hash buckets (Options.HashBuckets).
type ColumnSize struct {
	// Pattern is a column name or a path.Match glob, as in Options.Ignore;
	// empty in a HashBuckets entry for every embedded column.
	Pattern string
	// Size is positive.
	Size int
}

// String formats the size as ParseColumnSize reads it.
func (c ColumnSize) String() string {
	if c.Pattern == "" {
		return strconv.Itoa(c.Size)
	}
	return c.Pattern + ":" + strconv.Itoa(c.Size)
}

// ParseColumnSize parses COLUMN:N, read from the right so that the column
// name may contain ':', or a lone N (an empty pattern). N is a positive
// integer.
func ParseColumnSize(s string) (ColumnSize, error) {
	pattern, num := "", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		pattern, num = strings.TrimSpace(s[:i]), s[i+1:]
		if pattern == "" {
			return ColumnSize{}, fmt.Errorf("%q: empty column pattern (want COLUMN:N or N)", s)
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n <= 0 {
		return ColumnSize{}, fmt.Errorf("%q: %q is not a positive integer (want COLUMN:N or N)", s, strings.TrimSpace(num))
	}
	return ColumnSize{Pattern: pattern, Size: n}, nil
}

// EmbedDim is the default width of an embedding table of the given number
// of rows: fastai's rule round(1.6·rows^0.56), capped by dimMax (at least
// 1).
func EmbedDim(rows, dimMax int) int {
	d := int(math.Round(1.6 * math.Pow(float64(rows), 0.56)))
	return max(1, min(d, dimMax))
}

// MurmurHash3 is MurmurHash3's x86 32-bit hash of data with the given
// seed, as Austin Appleby's reference MurmurHash3_x86_32 computes it.
func MurmurHash3(data []byte, seed uint32) uint32 {
	return murmur3String(string(data), seed)
}

// HashBucket is the row of a hashed embedding table of n rows for a value:
// MurmurHash3 (seed 0) of the value's UTF-8 bytes, modulo n. Other
// programs compute the same rows from the same rule.
func HashBucket(value string, n int) int {
	return int(murmur3String(value, 0) % uint32(n))
}

func murmur3String(s string, seed uint32) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	h := seed
	n := len(s)
	for ; len(s) >= 4; s = s[4:] {
		k := uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch len(s) {
	case 3:
		k ^= uint32(s[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(s[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(s[0])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// embedRoles is what the embedding options make of a header.
type embedRoles struct {
	dim     []int // per column: the width Embed gives it, 0 for none
	buckets []int // per column: the hash buckets HashBuckets gives it by name, 0 for none
	all     int   // the hash buckets of every other embedded column, 0 for none
	oneHot  int   // OneHotMax with its default; negative: no column by cardinality
	minCnt  int
	dimMax  int
}

// resolveEmbed matches the embedding options of opts against a header.
func resolveEmbed(file string, header []string, r *columnRoles, opts Options) (*embedRoles, error) {
	e := &embedRoles{dim: make([]int, len(header)), buckets: make([]int, len(header)),
		oneHot: opts.OneHotMax, minCnt: opts.MinCount, dimMax: opts.EmbedDimMax}
	if e.oneHot == 0 {
		e.oneHot = DefaultOneHotMax
	}
	if e.minCnt == 0 {
		e.minCnt = DefaultMinCount
	}
	if e.dimMax == 0 {
		e.dimMax = DefaultEmbedDimMax
	}
	if e.minCnt < 0 {
		return nil, fileErrorf(file, 0, "minimum count %d is negative", e.minCnt)
	}
	if e.dimMax < 0 {
		return nil, fileErrorf(file, 0, "largest embedding width %d is negative", e.dimMax)
	}
	set := func(what string, list []ColumnSize, into []int, all *int) error {
		for _, cs := range list {
			if cs.Size <= 0 {
				return fileErrorf(file, 0, "%s %q: size %d is not positive", what, cs.String(), cs.Size)
			}
			if cs.Pattern == "" && all != nil {
				if *all != 0 {
					return fileErrorf(file, 0, "%s given twice for every embedded column (%d and %d)", what, *all, cs.Size)
				}
				*all = cs.Size
				continue
			}
			if cs.Pattern == "" {
				return fileErrorf(file, 0, "%s %q: no column named", what, cs.String())
			}
			cols, err := r.matchFeatures(file, header, opts, cs.Pattern, what)
			if err != nil {
				return err
			}
			for _, c := range cols {
				if into[c] != 0 && into[c] != cs.Size {
					return errorf(file, 1, header[c], c, "given two sizes by %s (%d and %d)", what, into[c], cs.Size)
				}
				into[c] = cs.Size
			}
		}
		return nil
	}
	if err := set("embed", opts.Embed, e.dim, nil); err != nil {
		return nil, err
	}
	if err := set("hash buckets", opts.HashBuckets, e.buckets, &e.all); err != nil {
		return nil, err
	}
	return e, nil
}

// named reports whether the options name column c as an embedding.
func (e *embedRoles) named(c int) bool { return e.dim[c] > 0 || e.buckets[c] > 0 }

// hashedPast reports whether column c, categorical with n distinct values
// so far, is sure to be hashed, so that its values need not be kept.
func (e *embedRoles) hashedPast(c, n int) bool {
	return e.buckets[c] > 0 || (e.all > 0 && (e.dim[c] > 0 || (e.oneHot >= 0 && n > e.oneHot)))
}

// feature makes column c, categorical with the given sorted distinct
// training values and their counts, one-hot or embedded; hashed says that
// the values were not kept because the column is hashed.
func (e *embedRoles) feature(name string, c int, values []string, hashed bool, count func(string) int64) Feature {
	if !hashed && !e.named(c) && (e.oneHot < 0 || len(values) <= e.oneHot) {
		return Feature{Name: name, Kind: Categorical, Categories: values}
	}
	f := Feature{Name: name, Kind: Embedded}
	switch {
	case e.buckets[c] > 0:
		f.Buckets = e.buckets[c]
	case e.all > 0:
		f.Buckets = e.all
	default:
		for _, v := range values {
			if count(v) >= int64(e.minCnt) {
				f.Categories = append(f.Categories, v)
			}
		}
	}
	f.Dim = e.dim[c]
	if f.Dim == 0 {
		f.Dim = EmbedDim(f.Rows(), e.dimMax)
	}
	return f
}

// embedRows maps the values of an embedded feature to rows of its table.
type embedRows struct {
	index   map[string]int32
	buckets int
}

func newEmbedRows(f Feature) *embedRows {
	if f.Buckets > 0 {
		return &embedRows{buckets: f.Buckets}
	}
	e := &embedRows{index: make(map[string]int32, len(f.Categories))}
	for k, v := range f.Categories {
		e.index[v] = int32(k + 1)
	}
	return e
}

// row returns the row of a (trimmed) value: 0 for a value not in the
// vocabulary.
func (e *embedRows) row(v string) int32 {
	if e.buckets > 0 {
		return int32(HashBucket(v, e.buckets))
	}
	return e.index[v]
}

// embedWarning is the warning about n rows of an embedded feature whose
// values have no row of their own, or "" for none.
func embedWarning(file string, f Feature, n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s: column %q: %d rows have values unseen in training or rarer than the minimum count (embedding row 0)", file, f.Name, n)
}

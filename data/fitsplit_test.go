package data

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/inproc"
)

// textParts scans a text source in parts of whole blocks, as a text
// file's PartScanner does: rows counted from the part's first row, lines
// the file's.
type textParts struct {
	Source
	unsplittable bool
}

func (s textParts) Splittable() error {
	if s.unsplittable {
		return fmt.Errorf("%s: cannot", s.Name())
	}
	return nil
}

func (s textParts) ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error {
	blocks := 0
	if err := s.Scan(ctx, make([]ColumnWant, len(s.Columns())), func(*Block) error { blocks++; return nil }); err != nil {
		return err
	}
	lo, hi := p*blocks/n, (p+1)*blocks/n
	i, first := 0, int64(-1)
	return s.Scan(ctx, want, func(b *Block) error {
		defer func() { i++ }()
		if i < lo || i >= hi {
			return nil
		}
		if first < 0 {
			first = b.Row
		}
		b.Row -= first
		return fn(b)
	})
}

// sharedFit runs FitSource on n in-process processes sharing the pass
// over their parts of src, and returns each one's result and error.
func sharedFit(src PartScanner, opts Options, n int) ([]*FitResult, []error, int) {
	return sharedFitOf(func() (PartScanner, error) { return src, nil }, opts, n)
}

// sharedFitOf is sharedFit with a source of each process's own.
func sharedFitOf(open func() (PartScanner, error), opts Options, n int) ([]*FitResult, []error, int) {
	h := inproc.NewHub(n)
	res, errs := make([]*FitResult, n), make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts
			o.Split = h.Member(r)
			src, err := open()
			if err != nil {
				errs[r] = err
				return
			}
			res[r], errs[r] = FitSource(context.Background(), src, o)
			src.Close()
		}()
	}
	wg.Wait()
	return res, errs, h.Gathers()
}

// sameSharedFit checks that a pass shared between 2, 3 and 5 processes
// gives every process what one pass over every row gives (want, or
// wantErr), the moments up to rounding.
func sameSharedFit(t *testing.T, name, content string, opts Options, want *FitResult, wantErr error) {
	t.Helper()
	src := textParts{Source: newMemSource(t, name, content, CSVOptions{ChunkSize: 8, Threads: 2})}
	for _, n := range []int{2, 3, 5} {
		res, errs, _ := sharedFit(src, opts, n)
		for r := range n {
			err := errs[r]
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("%d processes, rank %d: error\n%v\nwant\n%v", n, r, err, wantErr)
			}
			if err != nil {
				continue
			}
			got := res[r]
			if got.Parts != n {
				t.Fatalf("%d processes: Parts %d", n, got.Parts)
			}
			if err := closeValues(reflect.ValueOf(got.Schema), reflect.ValueOf(want.Schema), "schema"); err != nil {
				t.Fatalf("%d processes, rank %d: %v\n%+v\nwant\n%+v", n, r, err, got.Schema, want.Schema)
			}
			if !slices.Equal(got.Warnings, want.Warnings) || got.Rows != want.Rows || got.Included != want.Included ||
				!slices.Equal(got.Groups, want.Groups) || !slices.Equal(got.Strata, want.Strata) {
				t.Fatalf("%d processes, rank %d: warnings %q rows %d/%d groups %v strata %v\nwant %q rows %d/%d groups %v strata %v",
					n, r, got.Warnings, got.Rows, got.Included, got.Groups, got.Strata, want.Warnings, want.Rows, want.Included, want.Groups, want.Strata)
			}
		}
	}
}

// closeValues compares a and b deeply, floats to 1e-12 (relative).
func closeValues(a, b reflect.Value, path string) error {
	if a.Kind() != b.Kind() {
		return fmt.Errorf("%s: kinds differ", path)
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Errorf("%s: nil and not nil", path)
			}
			return nil
		}
		return closeValues(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if err := closeValues(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: lengths %d and %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if err := closeValues(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		if x != y && !(math.IsNaN(x) && math.IsNaN(y)) && math.Abs(x-y) > 1e-12*max(math.Abs(x), math.Abs(y)) {
			return fmt.Errorf("%s: %v and %v", path, x, y)
		}
	case reflect.Map:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return fmt.Errorf("%s: maps differ", path)
		}
	default:
		if a.CanInterface() && !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return fmt.Errorf("%s: %v and %v", path, a.Interface(), b.Interface())
		}
	}
	return nil
}

func TestSharedPassMatchesOnePass(t *testing.T) {
	t.Parallel()
	for _, tc := range fitCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, err := FitSource(context.Background(), newMemSource(t, tc.file, tc.content, CSVOptions{}), tc.opts)
			sameSharedFit(t, tc.file, tc.content, tc.opts, want, err)
		})
	}
}

// A merged sample is a uniform sample of both runs: of 150,000 zeros and
// then 50,000 ones, a quarter are ones (an even split between the two
// samples would give a half).
func TestSampleMergeIsUniform(t *testing.T) {
	t.Parallel()
	a, b := newNumericSample(), newNumericSample()
	for range 150_000 {
		a.add(0)
	}
	for range 50_000 {
		b.add(1)
	}
	a.merge(&samplePart{Values: b.values, Seen: b.seen, Min: b.min, Max: b.max})
	if len(a.values) != QuantileSample || a.seen != 200_000 || a.min != 0 || a.max != 1 {
		t.Fatalf("%d values of %d seen, min %v max %v", len(a.values), a.seen, a.min, a.max)
	}
	ones := 0.0
	for _, v := range a.values {
		ones += v
	}
	if frac := ones / QuantileSample; math.Abs(frac-0.25) > 0.01 {
		t.Errorf("%.4f of the merged sample are ones, want 0.25", frac)
	}
	// Below QuantileSample in all, the samples are kept in order.
	c, d := newNumericSample(), newNumericSample()
	c.add(3)
	d.add(1)
	d.add(2)
	c.merge(&samplePart{Values: d.values, Seen: d.seen, Min: d.min, Max: d.max})
	if !slices.Equal(c.values, []float64{3, 1, 2}) || c.min != 1 || c.max != 3 {
		t.Errorf("small merge %v, min %v max %v", c.values, c.min, c.max)
	}
}

// Quantile edges from a shared pass over more numbers than a sample
// holds: the same on every process, and close to one pass's.
func TestSharedPassQuantiles(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("x,y\n")
	rng := rand.New(rand.NewPCG(1, 2))
	var all []float64
	for i := range 3 * QuantileSample / 2 {
		v := rng.ExpFloat64() + float64(i%7)
		fmt.Fprintf(&b, "%.6g,%d\n", v, i%2)
		all = append(all, v)
	}
	slices.Sort(all)
	rank := func(v float64) float64 { i, _ := slices.BinarySearch(all, v); return float64(i) / float64(len(all)) }
	opts := Options{Tasks: specs(t, "y:binary"), Numeric: NumericEncoding{Method: Quantile}}
	src := textParts{Source: newMemSource(t, "q.csv", b.String(), CSVOptions{ChunkSize: 64 << 10})}
	want, err := FitSource(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, errs, _ := sharedFit(src, opts, 3)
	for r := range 3 {
		if errs[r] != nil {
			t.Fatal(errs[r])
		}
		got, ref := res[r].Schema.Features[0], res[0].Schema.Features[0]
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("rank %d and rank 0 differ:\n%+v\n%+v", r, got, ref)
		}
	}
	got, one := res[0].Schema.Features[0], want.Schema.Features[0]
	if len(got.Edges) != len(one.Edges) || len(got.Edges) < 100 {
		t.Fatalf("%d edges, one pass %d", len(got.Edges), len(one.Edges))
	}
	worst := 0.0
	for i := 1; i < len(got.Edges)-1; i++ {
		worst = max(worst, math.Abs(rank(got.Edges[i])-rank(one.Edges[i])))
	}
	// Two uniform samples of 100,000 place a quantile within a few
	// thousandths in rank of each other (the standard error of each is
	// at most 0.0016).
	if worst > 0.008 || worst == 0 {
		t.Errorf("inner edges differ in rank from one pass's by up to %v (0: the sample was not merged)", worst)
	}
}

// Every process reads every row, the same, when one of them cannot scan
// the source in parts, or a row filter is set.
func TestSharedPassFallsBack(t *testing.T) {
	t.Parallel()
	content := "a,g,y\n1,u,0\n2,v,1\n3,u,0\n4,w,1\n5,v,0\n"
	opts := Options{Tasks: specs(t, "y:binary"), GroupColumn: "g"}
	want, err := FitSource(context.Background(), newMemSource(t, "f.csv", content, CSVOptions{}), opts)
	if err != nil {
		t.Fatal(err)
	}
	h := inproc.NewHub(2)
	res, errs := make([]*FitResult, 2), make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts
			o.Split = h.Member(r)
			src := textParts{Source: newMemSource(t, "f.csv", content, CSVOptions{ChunkSize: 4}), unsplittable: r == 1}
			res[r], errs[r] = FitSource(context.Background(), src, o)
		}()
	}
	wg.Wait()
	for r := range 2 {
		if errs[r] != nil {
			t.Fatal(errs[r])
		}
		if res[r].Parts != 0 || !reflect.DeepEqual(res[r].Schema, want.Schema) || !slices.Equal(res[r].Groups, want.Groups) {
			t.Fatalf("rank %d: parts %d schema %+v groups %v", r, res[r].Parts, res[r].Schema, res[r].Groups)
		}
		if why := []string{"process 1: f.csv: cannot", "f.csv: cannot"}[r]; res[r].Whole != why {
			t.Errorf("rank %d: not shared because %q, want %q", r, res[r].Whole, why)
		}
	}
	opts.Include = func(row int64) bool { return row != 2 }
	src := textParts{Source: newMemSource(t, "f.csv", content, CSVOptions{ChunkSize: 4})}
	res, errs, calls := sharedFit(src, opts, 2)
	if errs[0] != nil || res[0].Parts != 0 || calls != 0 || res[0].Whole != "rows held out of the statistics are chosen by their row number" {
		t.Fatalf("with a row filter: %v, parts %d, %d gathers, not shared because %q", errs[0], res[0].Parts, calls, res[0].Whole)
	}
}

// BenchmarkSharedPass times the pass of FitSource over a CSV file of
// 400,000 rows (in 1 MiB chunks): alone, and the part of each of 2
// and 3 processes sharing it (each scans and fits its part; the gather
// and merge, a few kilobytes here, are left out). A process's time on a
// node with a core per process is its part's: the walk that finds the
// part's chunks included.
func BenchmarkSharedPass(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(4, 5))
	fmt.Fprintln(w, "a,b,c,d,e,f,cat,y,z")
	for i := range 400_000 {
		fmt.Fprintf(w, "%.5g,%.5g,%.5g,%.5g,%.5g,%.5g,k%d,%d,%.4g\n", rng.NormFloat64(), rng.Float64(), rng.ExpFloat64(),
			rng.NormFloat64(), rng.NormFloat64()*100, float64(rng.IntN(1000)), rng.IntN(40), i%3, rng.NormFloat64())
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	opts := Options{Tasks: specs(b, "y:multiclass", "z:regression")}
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	header := src.Columns()
	roles, err := resolveRoles(path, header, opts)
	if err != nil {
		b.Fatal(err)
	}
	emb, err := resolveEmbed(path, header, roles, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 2, 3} {
		for p := range n {
			b.Run(fmt.Sprintf("part=%d/%d", p, n), func(b *testing.B) {
				for range b.N {
					f := newFitter(src, header, roles, emb, opts)
					if err := src.ScanPart(context.Background(), f.want, p, n, f.block); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// A Parquet file of several row groups fitted by 3 processes, each
// reading its row groups: what one pass learns.
func TestSharedPassParquet(t *testing.T) {
	t.Parallel()
	path := filepath.Join(sharedData(t), "parquet-interop/adult_train.duckdb.parquet")
	opts := Options{Tasks: specs(t, "income_gt_50k:binary", "marital_status:multiclass:0.5", "relationship:multiclass:0.5")}
	open := func() (PartScanner, error) { return OpenParquet(path, ParquetOptions{BlockRows: 5000}) }
	src, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if g := src.(*ParquetSource).RowGroups(); g < 3 {
		t.Logf("%s has %d row groups: some processes read none", path, g)
	}
	want, err := FitSource(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, errs, _ := sharedFitOf(open, opts, 3)
	for r := range 3 {
		if errs[r] != nil {
			t.Fatal(errs[r])
		}
		if err := closeValues(reflect.ValueOf(res[r].Schema), reflect.ValueOf(want.Schema), "schema"); err != nil || res[r].Parts != 3 || res[r].Rows != want.Rows {
			t.Fatalf("rank %d, %d parts, %d rows: %v", r, res[r].Parts, res[r].Rows, err)
		}
	}
}

// The shared data sets (those not compressed, which cannot be read in
// parts) fitted by 3 processes sharing the pass over their parts of the
// file: what one pass learns.
func TestSharedPassOnSharedData(t *testing.T) {
	t.Parallel()
	dir := sharedData(t)
	for _, sc := range sharedFitCases {
		if strings.HasSuffix(sc.file, ".gz") {
			continue
		}
		t.Run(sc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, sc.file)
			opts := Options{Tasks: specs(t, sc.tasks...), GroupColumn: sc.group}
			src, err := OpenCSV(path, CSVOptions{ChunkSize: 1 << 12, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			want, err := FitSource(context.Background(), src, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Each process opens the file.
			res, errs, _ := sharedFitOf(func() (PartScanner, error) { return OpenCSV(path, CSVOptions{ChunkSize: 1 << 12, Threads: 2}) }, opts, 3)
			for r := range 3 {
				if errs[r] != nil {
					t.Fatal(errs[r])
				}
				got := res[r]
				if err := closeValues(reflect.ValueOf(got.Schema), reflect.ValueOf(want.Schema), "schema"); err != nil || got.Parts != 3 {
					t.Fatalf("rank %d, %d parts: %v", r, got.Parts, err)
				}
				if !slices.Equal(got.Warnings, want.Warnings) || got.Rows != want.Rows || !slices.Equal(got.Groups, want.Groups) || !slices.Equal(got.Strata, want.Strata) {
					t.Fatalf("rank %d: warnings, rows, groups or strata differ", r)
				}
			}
		})
	}
}

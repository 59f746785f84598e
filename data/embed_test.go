package data

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/memtest"
)

func TestMurmurHash3(t *testing.T) {
	t.Parallel()
	// The published test vectors of MurmurHash3_x86_32 (as listed with
	// the reference implementation's ports), and two with seed 0.
	tests := []struct {
		in   string
		seed uint32
		want uint32
	}{
		{"", 0, 0},
		{"", 1, 0x514e28b7},
		{"", 0xffffffff, 0x81f16f39},
		{"\x00\x00\x00\x00", 0, 0x2362f9de},
		{"aaaa", 0x9747b28c, 0x5a97808a},
		{"aaa", 0x9747b28c, 0x283e0130},
		{"aa", 0x9747b28c, 0x5d211726},
		{"a", 0x9747b28c, 0x7fa09ea6},
		{"abcd", 0x9747b28c, 0xf0478627},
		{"abc", 0x9747b28c, 0xc84a62dd},
		{"ab", 0x9747b28c, 0x74875592},
		{"Hello, world!", 0x9747b28c, 0x24884cba},
		{"ππππππππ", 0x9747b28c, 0xd58063c1},
		{"The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd},
		{"hello", 0, 0x248bfa47},
		{"The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723},
	}
	for _, tc := range tests {
		if got := MurmurHash3([]byte(tc.in), tc.seed); got != tc.want {
			t.Errorf("MurmurHash3(%q, %#x) = %#08x, want %#08x", tc.in, tc.seed, got, tc.want)
		}
	}
	if got := HashBucket("hello", 1000); got != 0x248bfa47%1000 {
		t.Errorf("HashBucket(hello, 1000) = %d", got)
	}
}

func TestParseColumnSize(t *testing.T) {
	t.Parallel()
	good := map[string]ColumnSize{
		"user_id:32": {"user_id", 32},
		"a:b:8":      {"a:b", 8},
		" 16 ":       {"", 16},
		"id*: 4":     {"id*", 4},
	}
	for in, want := range good {
		got, err := ParseColumnSize(in)
		if err != nil || got != want {
			t.Errorf("ParseColumnSize(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseColumnSize(got.String()); err != nil || back != got {
			t.Errorf("%q does not read back: %+v, %v", got.String(), back, err)
		}
	}
	for in, want := range map[string]string{
		"a:0":  `"a:0": "0" is not a positive integer (want COLUMN:N or N)`,
		"a:-3": `"a:-3": "-3" is not a positive integer (want COLUMN:N or N)`,
		":4":   `":4": empty column pattern (want COLUMN:N or N)`,
		"a":    `"a": "a" is not a positive integer (want COLUMN:N or N)`,
	} {
		if _, err := ParseColumnSize(in); err == nil || err.Error() != want {
			t.Errorf("ParseColumnSize(%q) error %v, want %q", in, err, want)
		}
	}
}

func TestEmbedDim(t *testing.T) {
	t.Parallel()
	// round(1.6·n^0.56): 2 → 2.36, 10 → 5.81, 100 → 21.1, 1000 → 76.6.
	for _, tc := range []struct{ rows, dimMax, want int }{
		{1, 64, 2}, {2, 64, 2}, {10, 64, 6}, {100, 64, 21}, {1000, 64, 64}, {1000, 600, 77}, {100, 3, 3}, {200001, 64, 64},
	} {
		if got := EmbedDim(tc.rows, tc.dimMax); got != tc.want {
			t.Errorf("EmbedDim(%d, %d) = %d, want %d", tc.rows, tc.dimMax, got, tc.want)
		}
	}
}

// embedCSV is a file with an ID of 100 values (u00 to u49 twice, u50 to
// u99 once), a column of 3 values, a numeric column, two more ID-like
// columns and a target.
func embedCSV() string {
	var b strings.Builder
	b.WriteString("id,low,num,code,h,y\n")
	for i := range 150 {
		id := i % 100
		if i >= 100 {
			id = i - 100
		}
		fmt.Fprintf(&b, "u%02d,%c,%d,%d,k%d,%d\n", id, 'a'+i%3, i, 1000+i%70, i%90, i%2)
	}
	return b.String()
}

func TestFitSourceEmbeddings(t *testing.T) {
	t.Parallel()
	content := embedCSV()
	var ids []string
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("u%02d", i))
	}
	var codes []string
	for i := range 70 {
		codes = append(codes, fmt.Sprint(1000+i))
	}
	feature := func(s *Schema, name string) Feature {
		for _, f := range s.Features {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("no feature %q", name)
		return Feature{}
	}
	base := Options{Tasks: specs(t, "y:binary")}
	tests := []struct {
		name  string
		opts  func(o *Options)
		check map[string]Feature
	}{
		{"defaults", func(o *Options) {}, map[string]Feature{
			"id":  {Name: "id", Kind: Embedded, Categories: ids, Dim: EmbedDim(101, 64)},
			"low": {Name: "low", Kind: Categorical, Categories: []string{"a", "b", "c"}},
			"h":   {Name: "h", Kind: Embedded, Categories: sortedValues("k", 90), Dim: EmbedDim(91, 64)},
		}},
		{"min count", func(o *Options) { o.MinCount = 2 }, map[string]Feature{
			"id": {Name: "id", Kind: Embedded, Categories: ids[:50], Dim: EmbedDim(51, 64)},
		}},
		{"one-hot up to 100", func(o *Options) { o.OneHotMax = 100 }, map[string]Feature{
			"id": {Name: "id", Kind: Categorical, Categories: ids},
			"h":  {Name: "h", Kind: Categorical, Categories: sortedValues("k", 90)},
		}},
		{"one-hot always, names embedded", func(o *Options) {
			o.OneHotMax = -1
			o.Embed = []ColumnSize{{"code", 5}}
			o.HashBuckets = []ColumnSize{{"low", 7}}
		}, map[string]Feature{
			"id":   {Name: "id", Kind: Categorical, Categories: ids},
			"code": {Name: "code", Kind: Embedded, Categories: codes, Dim: 5},
			"low":  {Name: "low", Kind: Embedded, Buckets: 7, Dim: EmbedDim(7, 64)},
		}},
		{"hash every embedded column", func(o *Options) {
			o.HashBuckets = []ColumnSize{{"", 32}, {"h", 8}}
			o.EmbedDimMax = 3
		}, map[string]Feature{
			"id":  {Name: "id", Kind: Embedded, Buckets: 32, Dim: 3},
			"h":   {Name: "h", Kind: Embedded, Buckets: 8, Dim: 3},
			"low": {Name: "low", Kind: Categorical, Categories: []string{"a", "b", "c"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := base
			tc.opts(&opts)
			src := newMemSource(t, "e.csv", content, CSVOptions{ChunkSize: 100})
			res, err := FitSource(context.Background(), src, opts)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Schema
			for name, want := range tc.check {
				if got := feature(s, name); !reflect.DeepEqual(got, want) {
					t.Errorf("feature %s:\n%+v\nwant\n%+v", name, got, want)
				}
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			checkEmbeddedEncoding(t, s, src, content)
		})
	}
}

// sortedValues returns prefix0 … prefix(n-1) in sorted (string) order.
func sortedValues(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	slices.Sort(out)
	return out
}

// checkEmbeddedEncoding checks the dimensions, table rows, JSON round
// trip and encoding of a schema with embedded features, on the training
// file and on a file of new values.
func checkEmbeddedEncoding(t *testing.T, s *Schema, src Source, content string) {
	t.Helper()
	var tables []Embedding
	dim := 0
	for _, f := range s.Features {
		switch f.Kind {
		case Embedded:
			tables = append(tables, Embedding{Name: f.Name, Rows: f.Rows(), Dim: f.Dim})
			if f.Width() != 0 {
				t.Errorf("embedded %q has width %d in X", f.Name, f.Width())
			}
		case Categorical:
			dim += len(f.Categories)
		default:
			dim++
		}
	}
	if got := s.Embeddings(); !reflect.DeepEqual(got, tables) || s.Dim() != dim || len(s.EncodedNames()) != dim {
		t.Errorf("Embeddings %+v Dim %d names %d; want %+v, %d", got, s.Dim(), len(s.EncodedNames()), tables, dim)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Schema
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, s) {
		t.Fatalf("JSON round trip: %v\n%+v\n%+v", err, &back, s)
	}
	parts, _, err := s.EncodeSource(context.Background(), src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	enc := parts[0]
	tab := table(t, "e.csv", content)
	j := 0
	for _, f := range s.Features {
		if f.Kind != Embedded {
			continue
		}
		c := tab.Column(f.Name)
		for i, row := range tab.Rows {
			v := strings.TrimSpace(row[c])
			want := int32(slices.Index(f.Categories, v) + 1)
			if f.Buckets > 0 {
				want = int32(HashBucket(v, f.Buckets))
			}
			if got := enc.Index[j][i]; got != want {
				t.Fatalf("%s row %d (%q): table row %d, want %d", f.Name, i, v, got, want)
			}
		}
		j++
	}
	if j != len(enc.Index) {
		t.Fatalf("%d index columns, want %d", len(enc.Index), j)
	}
	// The old path encodes the same.
	old, err := s.Encode(tab, true)
	if err != nil {
		t.Fatal(err)
	}
	checkSameEncoded(t, "Encode", enc, old.Encoded)

	// Unseen values share row 0, with a warning; hashed values have no
	// unseen ones.
	news := newMemSource(t, "new.csv", "id,low,num,code,h\nzz,a,1,1000,k0\nu00,a,1,5,new\n", CSVOptions{})
	parts, warnings, err := s.EncodeSource(context.Background(), news, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j = 0
	for _, f := range s.Features {
		if f.Kind != Embedded {
			continue
		}
		if f.Buckets == 0 && f.Name == "id" && parts[0].Index[j][0] != 0 {
			t.Errorf("unseen id at row %d", parts[0].Index[j][0])
		}
		warned := slices.ContainsFunc(warnings, func(w string) bool {
			return strings.Contains(w, fmt.Sprintf("column %q: ", f.Name)) && strings.Contains(w, "(embedding row 0)")
		})
		// Every vocabulary column but "low" has a value unseen in
		// training in the new file; hashed columns have none.
		if wantWarn := f.Buckets == 0 && f.Name != "low"; warned != wantWarn {
			t.Errorf("column %q: warned %v, want %v: %q", f.Name, warned, wantWarn, warnings)
		}
		j++
	}
}

func TestEmbedOptionErrors(t *testing.T) {
	t.Parallel()
	content := "a,b,y\n1,x,0\n2,y,1\n"
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Embed: []ColumnSize{{"y", 4}}}, `e.csv:1: column "y" (3): listed as embed but it is a target (task "y:binary")`},
		{Options{Embed: []ColumnSize{{"c*", 4}}}, `e.csv:1: embed pattern "c*" matches no column`},
		{Options{Embed: []ColumnSize{{"a", 0}}}, `e.csv: embed "a:0": size 0 is not positive`},
		{Options{Embed: []ColumnSize{{"", 3}}}, `e.csv: embed "3": no column named`},
		{Options{Embed: []ColumnSize{{"a", 2}, {"[a]", 3}}}, `e.csv:1: column "a" (1): given two sizes by embed (2 and 3)`},
		{Options{HashBuckets: []ColumnSize{{"", 2}, {"", 3}}}, `e.csv: hash buckets given twice for every embedded column (2 and 3)`},
		{Options{HashBuckets: []ColumnSize{{"b", 2}}, GroupColumn: "b"}, `e.csv:1: column "b" (2): listed as hash buckets but it is the group column`},
		{Options{MinCount: -1}, `e.csv: minimum count -1 is negative`},
	} {
		tc.opts.Tasks = specs(t, "y:binary")
		_, err := FitSource(context.Background(), newMemSource(t, "e.csv", content, CSVOptions{}), tc.opts)
		wantError(t, err, tc.want)
	}
}

// A column of 200,000 distinct values on 200,000 rows fits and encodes as
// an embedding table, not a one-hot block of 40 billion values. Not
// parallel, so that no other test allocates meanwhile: the bytes allocated
// from start to end bound the peak heap from above.
func TestHighCardinalityMemory(t *testing.T) {
	const rows = 200_000
	var b strings.Builder
	b.WriteString("user,x,y\n")
	rng := rand.New(rand.NewPCG(5, 6))
	for i, id := range rng.Perm(rows) {
		fmt.Fprintf(&b, "user%07d,%.3f,%d\n", id, rng.Float64(), i%2)
	}
	path := filepath.Join(t.TempDir(), "ids.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b = strings.Builder{}
	for _, hashed := range []bool{false, true} {
		opts := Options{Tasks: specs(t, "y:binary")}
		if hashed {
			opts.HashBuckets = []ColumnSize{{"user", 50_000}}
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := memtest.SamplePeakHeap()
		src, err := OpenCSV(path, CSVOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := FitSource(context.Background(), src, opts)
		if err != nil {
			t.Fatal(err)
		}
		parts, _, err := res.Schema.EncodeSource(context.Background(), src, EncodeOptions{Targets: true})
		if err != nil {
			t.Fatal(err)
		}
		src.Close()
		peak := stop()
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		f := res.Schema.Features[0]
		wantRows := rows + 1
		if hashed {
			wantRows = 50_000
		}
		if f.Kind != Embedded || f.Rows() != wantRows || f.Dim != DefaultEmbedDimMax {
			t.Errorf("hashed %v: user is %v with %d rows of %d", hashed, f.Kind, f.Rows(), f.Dim)
		}
		enc := parts[0]
		if enc.D != 1 || len(enc.Index) != 1 || len(enc.Index[0]) != rows {
			t.Errorf("encoded D %d, %d index columns", enc.D, len(enc.Index))
		}
		t.Logf("hashed %v: %.1f MB allocated in all, a bound on the peak heap above the %.1f MB in use before; peak heap sampled: %.1f MB",
			hashed, float64(allocated)/1e6, float64(before.HeapAlloc)/1e6, float64(peak)/1e6)
		if allocated > 1<<30 {
			t.Errorf("hashed %v: %d MB allocated, want under 1 GB", hashed, allocated>>20)
		}
	}
}

package data

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sameBits reports whether two float32 slices hold the same bits.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// checkSameEncoded fails the test unless got and want hold the same rows,
// bit for bit (warnings aside).
func checkSameEncoded(t *testing.T, what string, got, want *Encoded) {
	t.Helper()
	if got.N != want.N || got.D != want.D {
		t.Fatalf("%s: N, D = %d, %d; want %d, %d", what, got.N, got.D, want.N, want.D)
	}
	if !sameBits(got.X, want.X) {
		t.Fatalf("%s: X differs:\n%v\nwant\n%v", what, got.X, want.X)
	}
	if len(got.Labels) != len(want.Labels) || (got.Labels == nil) != (want.Labels == nil) {
		t.Fatalf("%s: %d label columns, want %d", what, len(got.Labels), len(want.Labels))
	}
	for j := range want.Labels {
		if !sameBits(got.Labels[j], want.Labels[j]) {
			t.Fatalf("%s: labels %d differ:\n%v\nwant\n%v", what, j, got.Labels[j], want.Labels[j])
		}
	}
	if !slices.Equal(got.Groups, want.Groups) || (got.Groups == nil) != (want.Groups == nil) {
		t.Fatalf("%s: groups %v, want %v", what, got.Groups, want.Groups)
	}
	if len(got.Index) != len(want.Index) {
		t.Fatalf("%s: %d index columns, want %d", what, len(got.Index), len(want.Index))
	}
	for j := range want.Index {
		if !slices.Equal(got.Index[j], want.Index[j]) {
			t.Fatalf("%s: index %d differs:\n%v\nwant\n%v", what, j, got.Index[j], want.Index[j])
		}
	}
}

// sameEncode checks that EncodeSource and EncodeBlocks encode a file as
// Encode encodes its table: the same values, warnings and error.
func sameEncode(t *testing.T, s *Schema, name, content string, targets bool) {
	t.Helper()
	var want *refEncoded
	tab, err := Read(strings.NewReader(content), name)
	if err == nil {
		want, err = s.Encode(tab, targets)
	}
	for _, v := range csvVariants {
		src := newMemSource(t, name, content, v)
		parts, warnings, gotErr := s.EncodeSource(context.Background(), src, EncodeOptions{Targets: targets})
		if (gotErr == nil) != (err == nil) || (err != nil && gotErr.Error() != err.Error()) {
			t.Fatalf("%+v: EncodeSource error\n%v\nEncode error\n%v", v, gotErr, err)
		}
		if err != nil {
			continue
		}
		if len(parts) != 1 {
			t.Fatalf("%d parts", len(parts))
		}
		checkSameEncoded(t, "EncodeSource", parts[0], want.Encoded)
		if !slices.Equal(warnings, want.Warnings) {
			t.Fatalf("%+v: warnings %q, want %q", v, warnings, want.Warnings)
		}
		blocks := concatBlocks(t, s, src, EncodeOptions{Targets: targets}, want.Warnings)
		checkSameEncoded(t, "EncodeBlocks", blocks, want.Encoded)
	}
}

// concatBlocks encodes src with EncodeBlocks and joins the blocks into one
// Encoded, checking the warnings.
func concatBlocks(t *testing.T, s *Schema, src Source, opts EncodeOptions, wantWarn []string) *Encoded {
	t.Helper()
	out := &Encoded{D: s.Dim()}
	var row int64
	warnings, err := s.EncodeBlocks(context.Background(), src, opts, func(eb *EncodedBlock) error {
		if eb.Row != row {
			t.Fatalf("block at row %d, want %d", eb.Row, row)
		}
		row += int64(eb.N)
		out.N += eb.N
		out.X = append(out.X, eb.X...)
		if eb.Labels != nil && out.Labels == nil {
			out.Labels = make([][]float32, len(eb.Labels))
		}
		for j := range eb.Labels {
			out.Labels[j] = append(out.Labels[j], eb.Labels[j]...)
		}
		if eb.Index != nil && out.Index == nil {
			out.Index = make([][]int32, len(eb.Index))
		}
		for j := range eb.Index {
			out.Index[j] = append(out.Index[j], eb.Index[j]...)
		}
		if eb.Groups != nil {
			out.Groups = append(out.Groups, eb.Groups...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(warnings, wantWarn) {
		t.Fatalf("EncodeBlocks warnings %q, want %q", warnings, wantWarn)
	}
	return out
}

func TestEncodeSourceMatchesEncode(t *testing.T) {
	t.Parallel()
	s := fitted(t)
	type encCase struct {
		name    string
		schema  *Schema
		content string
		targets bool
	}
	cases := []encCase{
		{"reordered with unseen values", s, "extra,reg,g,y,cat,num\nq,7,s10,no,a,3\nq,,s3,yes,zz,6\nq,-1,s1,,b,1.5\n", true},
		{"no targets", s, "g,cat,num\ns2,?,6\n", false},
		{"targets present at prediction", s, "g,cat,num,y,reg\ns2,?,6,maybe,abc\n", false},
		{"unseen multiclass label", nil, "y,a\nx,1\n\"w\nv\",2\n", true},
		// The first bad cell of the first bad column, whatever the order
		// of lines; a missing column after a bad one.
		{"earlier column wins", s, "g,num,cat\ns1,1,a\ns1,2,a\ns1,abc,a\ns1,1,\"q\nr\"\nNA,1,a\n", false},
		{"bad cell before a missing column", s, "num,cat,y\n1,a,no\nx,a,yes\n", false},
		{"bad label before a missing target", s, "num,cat,g,y\n1,a,s1,no\n1,a,s1,maybe\n", true},
		// Numbers whose text the pass does not keep are read again.
		{"too large after standardising", s, "cat,num,g\na,1,s1\n\na,1e300,s1\n", false},
		{"regression beyond float32", s, "cat,num,g,y,reg\na,1,s1,no,1\na,1,s1,no,+3.4E+39\n", true},
		{"impute", nil, "a,y\n1,0\nNA,1\n3,0\n?,1\n", true},
	}
	multi, _, err := Fit(table(t, "t.csv", "a,y\n1,x\n2,y\n"), Options{Tasks: specs(t, "y:multiclass")})
	if err != nil {
		t.Fatal(err)
	}
	cases[3].schema = multi
	imp, _, err := Fit(table(t, "i.csv", "a,y\n1,0\nNA,1\n3,0\n?,1\n"), Options{Tasks: specs(t, "y:binary"), Impute: "mean"})
	if err != nil {
		t.Fatal(err)
	}
	cases[len(cases)-1].schema = imp
	for _, ec := range encodeErrorCases(t) {
		cases = append(cases, encCase{"errors/" + ec.name, ec.schema, ec.content, ec.withTargets})
	}
	// Embedded features, with a vocabulary and hashed, and an offset.
	emb := fitted(t)
	emb.Features = append(emb.Features,
		Feature{Name: "cat2", Kind: Embedded, Categories: []string{"a", "b"}, Dim: 2},
		Feature{Name: "h", Kind: Embedded, Buckets: 5, Dim: 3})
	emb.Targets[1].Offset = 2.5
	cases = append(cases, encCase{"embedded", emb, "num,cat,g,y,reg,cat2,h\n1,a,s1,no,1,a,x\n2,b,s2,yes,2.5,c,y\n3,?,s1,no,,b,\n", true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sameEncode(t, tc.schema, "p.csv", tc.content, tc.targets)
		})
	}
}

func TestEncodeSourceMatchesEncodeOnSharedData(t *testing.T) {
	t.Parallel()
	dir := sharedData(t)
	for _, sc := range sharedFitCases {
		t.Run(sc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, sc.file)
			tab, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := Fit(tab, Options{Tasks: specs(t, sc.tasks...), GroupColumn: sc.group})
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Encode(tab, true)
			if err != nil {
				t.Fatal(err)
			}
			src, err := OpenCSV(path, CSVOptions{ChunkSize: 1 << 15})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			parts, warnings, err := s.EncodeSource(context.Background(), src, EncodeOptions{Targets: true})
			if err != nil {
				t.Fatal(err)
			}
			checkSameEncoded(t, "EncodeSource", parts[0], want.Encoded)
			if !slices.Equal(warnings, want.Warnings) {
				t.Fatalf("warnings %q, want %q", warnings, want.Warnings)
			}
			checkParts(t, s, src, want.Encoded)
		})
	}
}

// checkParts encodes src in random parts, some rows dropped, and checks
// each part against the rows of the whole encoding.
func checkParts(t *testing.T, s *Schema, src Source, all *Encoded) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(all.N), 9))
	parts := make([]int8, all.N)
	rows := make([][]int, 3)
	for i := range parts {
		parts[i] = int8(rng.IntN(4) - 1)
		if parts[i] >= 0 {
			rows[parts[i]] = append(rows[parts[i]], i)
		}
	}
	got, _, err := s.EncodeSource(context.Background(), src, EncodeOptions{Targets: true, Parts: parts, NumParts: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkPartRows(t, got, rows, all)
	// Positions place each part's rows in any order.
	positions := make([]int32, all.N)
	for p := range rows {
		rng.Shuffle(len(rows[p]), func(i, j int) { rows[p][i], rows[p][j] = rows[p][j], rows[p][i] })
		for pos, r := range rows[p] {
			positions[r] = int32(pos)
		}
	}
	got, _, err = s.EncodeSource(context.Background(), src, EncodeOptions{Targets: true, Parts: parts, Positions: positions, NumParts: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkPartRows(t, got, rows, all)
	if _, _, err := s.EncodeSource(context.Background(), src, EncodeOptions{Parts: parts[1:]}); err == nil || !strings.Contains(err.Error(), "parts given for") {
		t.Errorf("too few parts: %v", err)
	}
}

// checkPartRows checks that each part holds the rows of all listed for it,
// in that order.
func checkPartRows(t *testing.T, got []*Encoded, rows [][]int, all *Encoded) {
	t.Helper()
	for p, enc := range got {
		want := &Encoded{N: len(rows[p]), D: all.D}
		for _, r := range rows[p] {
			want.X = append(want.X, all.X[r*all.D:(r+1)*all.D]...)
		}
		want.Labels = make([][]float32, len(all.Labels))
		for j := range all.Labels {
			want.Labels[j] = []float32{}
			for _, r := range rows[p] {
				want.Labels[j] = append(want.Labels[j], all.Labels[j][r])
			}
		}
		if all.Groups != nil {
			want.Groups = []int32{}
			for _, r := range rows[p] {
				want.Groups = append(want.Groups, all.Groups[r])
			}
		}
		for j := range all.Index {
			var ix []int32
			for _, r := range rows[p] {
				ix = append(ix, all.Index[j][r])
			}
			want.Index = append(want.Index, ix)
		}
		checkSameEncoded(t, "part", enc, want)
		if cap(enc.X) != len(enc.X) {
			t.Errorf("part %d: X has capacity %d for %d values", p, cap(enc.X), len(enc.X))
		}
	}
}

// TestEncodeMaskUnseen: a class label not seen in training is an error,
// or, with MaskUnseen, a missing label.
func TestEncodeMaskUnseen(t *testing.T) {
	t.Parallel()
	src := newMemSource(t, "t.csv", "a,y\n1,x\n2,y\n", CSVOptions{})
	res, err := FitSource(context.Background(), src, Options{Tasks: specs(t, "y:multiclass")})
	if err != nil {
		t.Fatal(err)
	}
	eval := newMemSource(t, "e.csv", "y,a\nx,1\nw,2\ny,3\n", CSVOptions{})
	_, _, err = res.Schema.EncodeSource(context.Background(), eval, EncodeOptions{Targets: true})
	wantError(t, err, `e.csv:3: column "y" (1): label "w" was not seen in training (classes: "x", "y")`)
	encs, _, err := res.Schema.EncodeSource(context.Background(), eval, EncodeOptions{Targets: true, MaskUnseen: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := encs[0].Labels[0]; l[0] != 0 || !math.IsNaN(float64(l[1])) || l[2] != 1 {
		t.Errorf("labels %v, want 0, NaN, 1", l)
	}
}

func TestEncodeSourceStreamRereadFallback(t *testing.T) {
	t.Parallel()
	// A pipe cannot be read again for the text of a number: the message
	// gives the number's shortest form.
	s := fitted(t)
	r, err := NewCSVReader(strings.NewReader("cat,num,g\na,1e300,s1\n"), "pipe.csv", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.EncodeSource(context.Background(), r, EncodeOptions{})
	wantError(t, err, `pipe.csv:2: column "num" (2): "1e+300" is too large after standardising (mean 3, scale 1.87083)`)
}

func TestEncodeBlocksKeepAndStop(t *testing.T) {
	t.Parallel()
	s := fitted(t)
	content := "id,num,cat,g\n\" a\",1,a,s1\nb,2,b,s2\nc,3,zz,s2\n"
	src := newMemSource(t, "k.csv", content, CSVOptions{ChunkSize: 1})
	var ids, nums []string
	warnings, err := s.EncodeBlocks(context.Background(), src, EncodeOptions{Keep: []string{"id", "num"}}, func(eb *EncodedBlock) error {
		for i := range eb.N {
			ids = append(ids, eb.Keep[0].Text(i))
			nums = append(nums, eb.Keep[1].Text(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) || !slices.Equal(nums, []string{"1", "2", "3"}) {
		t.Errorf("kept %q and %q", ids, nums)
	}
	if want := []string{`k.csv: column "cat": 1 rows have categories unseen in training (encoded as all zeros)`}; !slices.Equal(warnings, want) {
		t.Errorf("warnings %q", warnings)
	}
	// A kept numeric feature is encoded from its text as from numbers.
	tab := table(t, "k.csv", content)
	want, err := s.Encode(tab, false)
	if err != nil {
		t.Fatal(err)
	}
	got := concatBlocks(t, s, src, EncodeOptions{Keep: []string{"num", "g"}}, want.Warnings)
	checkSameEncoded(t, "kept", got, want.Encoded)

	_, err = s.EncodeBlocks(context.Background(), src, EncodeOptions{Keep: []string{"nope"}}, func(*EncodedBlock) error { return nil })
	wantError(t, err, `k.csv:1: column "nope": column to keep is missing from the file`)

	// A bad cell stops the pass at its block: fn never sees it.
	bad := newMemSource(t, "b.csv", "num,cat,g\n1,a,s1\n2,a,s1\nx,a,s1\n4,a,s1\n", CSVOptions{ChunkSize: 1})
	var seen int
	_, err = s.EncodeBlocks(context.Background(), bad, EncodeOptions{}, func(eb *EncodedBlock) error {
		seen += eb.N
		return nil
	})
	wantError(t, err, `b.csv:4: column "num" (1): "x" is not a number`)
	if seen != 2 {
		t.Errorf("fn saw %d rows before the bad one, want 2", seen)
	}
}

// Blocks of a cache, encoded in a shuffled order, give the rows of
// EncodeSource; a cache written with every column Auto (as a first pass
// reads an unknown file) gives them too.
func TestBlockEncoderOnCacheInAnyOrder(t *testing.T) {
	t.Parallel()
	content := embedCSV()
	src := newMemSource(t, "e.csv", content, CSVOptions{ChunkSize: 300})
	res, err := FitSource(context.Background(), src, Options{Tasks: specs(t, "y:binary", "num:regression"), GroupColumn: "low"})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Schema
	parts, _, err := s.EncodeSource(context.Background(), src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	want := parts[0]
	be, err := s.NewBlockEncoder(context.Background(), src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, wants := range [][]ColumnWant{be.Want(), Wants(len(src.Columns()), Auto)} {
		path := filepath.Join(t.TempDir(), "c.cache")
		if err := WriteCache(context.Background(), path, src, wants, nil); err != nil {
			t.Fatal(err)
		}
		cache, err := OpenCache(path)
		if err != nil {
			t.Fatal(err)
		}
		be, err := s.NewBlockEncoder(context.Background(), cache, EncodeOptions{Targets: true})
		if err != nil {
			t.Fatal(err)
		}
		got := &Encoded{N: want.N, D: want.D, X: make([]float32, len(want.X)), Groups: make([]int32, want.N)}
		got.Labels = [][]float32{make([]float32, want.N), make([]float32, want.N)}
		got.Index = [][]int32{make([]int32, want.N), make([]int32, want.N)}
		order := rand.New(rand.NewPCG(1, 1)).Perm(cache.Blocks())
		if len(order) < 3 {
			t.Fatalf("%d blocks", len(order))
		}
		for _, i := range order {
			blk, err := cache.ReadBlock(i, wants)
			if err != nil {
				t.Fatal(err)
			}
			eb, err := be.Encode(blk)
			if err != nil {
				t.Fatal(err)
			}
			r := int(eb.Row)
			copy(got.X[r*got.D:], eb.X)
			copy(got.Groups[r:], eb.Groups)
			for j := range eb.Labels {
				copy(got.Labels[j][r:], eb.Labels[j])
			}
			for j := range eb.Index {
				copy(got.Index[j][r:], eb.Index[j])
			}
		}
		cache.Close()
		checkSameEncoded(t, "cache blocks", got, want)
	}
}

// A cache written with every column Auto, before any schema is known (a
// pipe read once), fits and encodes as the file does, when its numbers
// are written in their shortest form.
func TestFitAndEncodeFromAutoCache(t *testing.T) {
	t.Parallel()
	content := "g,num,forced,mixed,y,m\ns1,1,10,1,yes,1\n2,2,9,x,no,2\ns1,3.5,10,2,,1\n2,-1,7,y,yes,3\n"
	opts := Options{Tasks: specs(t, "y:binary", "m:multiclass"), GroupColumn: "g", Categorical: []string{"forced"}}
	src := newMemSource(t, "a.csv", content, CSVOptions{ChunkSize: 1})
	want, err := FitSource(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantParts, wantWarn, err := want.Schema.EncodeSource(context.Background(), src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.cache")
	if err := WriteCache(context.Background(), path, src, Wants(len(src.Columns()), Auto), nil); err != nil {
		t.Fatal(err)
	}
	cache, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	got, err := FitSource(context.Background(), cache, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Schema, want.Schema) || !slices.Equal(got.Strata, want.Strata) || !slices.Equal(got.Groups, want.Groups) {
		t.Fatalf("from the cache:\n%+v\nfrom the file:\n%+v", got.Schema, want.Schema)
	}
	parts, warnings, err := got.Schema.EncodeSource(context.Background(), cache, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	checkSameEncoded(t, "from the cache", parts[0], wantParts[0])
	if !slices.Equal(warnings, wantWarn) {
		t.Errorf("warnings %q, want %q", warnings, wantWarn)
	}
}

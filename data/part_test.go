package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

// scanPart copies the blocks of one part.
func scanPart(src PartScanner, want []ColumnWant, p, n int) ([]Block, error) {
	var out []Block
	err := src.ScanPart(context.Background(), want, p, n, func(b *Block) error {
		out = append(out, copyBlock(b))
		return nil
	})
	return out, err
}

// checkPartScans scans src in n parts and checks that the parts, taken in
// order, are the blocks of a full scan: the same rows, lines, values and
// texts block by block. With partRows (a text file) each part's Row counts
// from the part's first row; otherwise it is Scan's. It returns the
// number of rows of each part.
func checkPartScans(t *testing.T, src PartScanner, want []ColumnWant, full []Block, n int, partRows bool) []int {
	t.Helper()
	var got []Block
	rows := make([]int, n)
	for p := range n {
		blocks, err := scanPart(src, want, p, n)
		if err != nil {
			t.Fatalf("part %d of %d: %v", p, n, err)
		}
		var row int64
		for i := range blocks {
			b := &blocks[i]
			k := len(got) + i
			if k >= len(full) {
				t.Fatalf("part %d of %d: more blocks than Scan's %d", p, n, len(full))
			}
			if partRows {
				if b.Row != row {
					t.Fatalf("part %d of %d, block %d: Row %d, want %d counted from the part's first row", p, n, i, b.Row, row)
				}
				row += int64(b.N)
				b.Row += full[len(got)].Row // as Scan counts it, for sameBlocks
			}
			f := &full[k]
			if b.Row != f.Row || b.N != f.N || b.FirstLine != f.FirstLine {
				t.Fatalf("part %d of %d, block %d: rows %d.. (%d) from line %d; Scan's block %d: rows %d.. (%d) from line %d",
					p, n, i, b.Row, b.N, b.FirstLine, k, f.Row, f.N, f.FirstLine)
			}
			for r := range b.N {
				if b.Line(r) != f.Line(r) {
					t.Fatalf("part %d of %d, block %d, row %d: line %d, Scan's %d", p, n, i, r, b.Line(r), f.Line(r))
				}
				for c, w := range want {
					if w == Skip {
						continue
					}
					if g, e := b.Cols[c].Text(r), f.Cols[c].Text(r); g != e {
						t.Fatalf("part %d of %d, block %d, row %d, column %d: %q, Scan's %q", p, n, i, r, c, g, e)
					}
					if w == Auto {
						g, e := b.Cols[c].Num[r], f.Cols[c].Num[r]
						if g != e && !(math.IsNaN(g) && math.IsNaN(e)) {
							t.Fatalf("part %d of %d, block %d, row %d, column %d: %v, Scan's %v", p, n, i, r, c, g, e)
						}
					}
				}
			}
			rows[p] += b.N
		}
		got = append(got, blocks...)
	}
	sameBlocks(t, got, full)
	return rows
}

// partCSV writes a table with quoted fields that hold delimiters,
// quotes and newlines, numbers and texts in one column, and blank and
// white-space-only lines between rows, with the given line end. It
// returns the text and the line of the row with index bad, which has
// one field too many when bad ≥ 0.
func partCSV(rows int, eol string, bad int) (text []byte, badLine int) {
	var b strings.Builder
	line := 1
	nl := func(s string) {
		b.WriteString(s)
		b.WriteString(eol)
		line += 1 + strings.Count(s, "\n")
	}
	nl("id,name,x,note")
	for i := range rows {
		if i%11 == 5 {
			nl("")
		}
		if i%17 == 3 {
			nl("   ")
		}
		name := fmt.Sprintf("n%d", i%9)
		switch i % 5 {
		case 1:
			name = fmt.Sprintf(`"n%d, with a comma"`, i%9)
		case 2:
			name = fmt.Sprintf("\"two\nlines %d\"", i%4)
		case 3:
			name = fmt.Sprintf(`"a ""quote"" %d"`, i%3)
		}
		x := fmt.Sprint(float64(i) / 4)
		if i%7 == 0 {
			x = "NA"
		} else if i%13 == 0 {
			x = "high"
		}
		row := fmt.Sprintf("%d,%s,%s,note %d", i, name, x, i*i)
		if i == bad {
			badLine = line
			row += ",extra"
		}
		nl(row)
	}
	return []byte(b.String()), badLine
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCSVScanPart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text, _ := partCSV(300, "\r\n", -1)
	lf, _ := partCSV(300, "\n", -1)
	cr, _ := partCSV(300, "\r", -1)
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"crlf.csv", text},
		{"bom.csv", append([]byte("\xef\xbb\xbf\n\n"), lf...)},
		{"cr.csv", cr},
	} {
		path := filepath.Join(dir, tc.name)
		writeFile(t, path, tc.content)
		src, err := OpenCSV(path, CSVOptions{ChunkSize: 64, Threads: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if err := src.Splittable(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// Parts first: they must not tell Rows, which only a whole scan
		// knows.
		want := []ColumnWant{Auto, Text, Auto, Skip}
		if _, err := scanPart(src, want, 1, 3); err != nil {
			t.Fatal(err)
		}
		if src.Rows() != -1 {
			t.Errorf("%s: Rows %d after a part", tc.name, src.Rows())
		}
		full := collectBlocks(t, src, want)
		if len(full) < 60 {
			t.Fatalf("%s: %d blocks: the chunks are not small", tc.name, len(full))
		}
		var total int
		for _, b := range full {
			total += b.N
		}
		if total != 300 {
			t.Fatalf("%s: %d rows", tc.name, total)
		}
		for _, n := range []int{1, 2, 3, 5, 7, len(full) + 5, 2 * total} {
			rows := checkPartScans(t, src, want, full, n, true)
			if n <= 7 {
				// The parts are even in bytes, so in rows of this table:
				// a part that is empty or twice too large means chunks
				// placed by a wrong offset.
				for p, r := range rows {
					if r < total/n/2 || r > 2*total/n {
						t.Errorf("%s: part %d of %d has %d of %d rows", tc.name, p, n, r, total)
					}
				}
			}
		}
	}
}

// TestCSVScanPartPlacesChunks checks where the chunks go: with rows of
// two bytes and a chunk size of one byte, row k is a chunk of its own
// that starts at byte 2k of the S = 2R bytes after the header, and lies
// in part p when p·S/n ≤ 2k < (p+1)·S/n. The byte order mark, blank lines
// and header before do not count.
func TestCSVScanPartPlacesChunks(t *testing.T) {
	t.Parallel()
	const rows, blank = 100, 37
	var b bytes.Buffer
	b.WriteString("\xef\xbb\xbf" + strings.Repeat("\n", blank) + "v\n")
	for k := range rows {
		fmt.Fprintf(&b, "%d\n", k%10)
	}
	path := filepath.Join(t.TempDir(), "two.csv")
	writeFile(t, path, b.Bytes())
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 1, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const size = 2 * rows
	for n := 1; n <= 13; n++ {
		for p := range n {
			var want []int64
			for k := range rows {
				if off := 2 * k; p*size <= off*n && off*n < (p+1)*size {
					want = append(want, int64(blank+2+k)) // the header is line blank+1
				}
			}
			var got []int64
			err := src.ScanPart(context.Background(), []ColumnWant{Auto}, p, n, func(b *Block) error {
				for i := range b.N {
					got = append(got, b.Line(i))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("part %d of %d: rows on lines %v, want %v", p, n, got, want)
			}
		}
	}
}

// TestCSVScanPartErrors checks that a part reports the errors of its own
// rows as Scan does, and does not parse the rows of the other parts.
func TestCSVScanPartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := Wants(4, Auto)
	opts := CSVOptions{ChunkSize: 64, Threads: 2}
	for _, bad := range []int{4, 280} {
		text, badLine := partCSV(300, "\n", bad)
		path := filepath.Join(dir, fmt.Sprintf("bad%d.csv", bad))
		writeFile(t, path, text)
		src, err := OpenCSV(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		scanErr := src.Scan(context.Background(), want, func(*Block) error { return nil })
		wantMsg := fmt.Sprintf("%s:%d: row has 5 fields, the header has 4", path, badLine)
		if scanErr == nil || scanErr.Error() != wantMsg {
			t.Fatalf("Scan: %v, want %s", scanErr, wantMsg)
		}
		badPart, goodPart := 0, 1 // an early row lies in part 0 of 2
		if bad > 150 {
			badPart, goodPart = 1, 0
		}
		if _, err := scanPart(src, want, badPart, 2); err == nil || err.Error() != scanErr.Error() {
			t.Errorf("part %d of 2 with the bad row: %v, want %v", badPart, err, scanErr)
		}
		blocks, err := scanPart(src, want, goodPart, 2)
		if err != nil {
			t.Errorf("part %d of 2 without the bad row: %v", goodPart, err)
		}
		if len(blocks) == 0 {
			t.Errorf("part %d of 2 without the bad row: no blocks", goodPart)
		}
	}

	// A row too long is found by the walk that cuts the chunks, before
	// the part too: it is the file's error.
	text, _ := partCSV(300, "\n", -1)
	long := append([]byte("id,name,x,note\n1,\""+strings.Repeat("z", 300)+"\",2,3\n"), text[len("id,name,x,note\n"):]...)
	path := filepath.Join(dir, "long.csv")
	writeFile(t, path, long)
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 64, MaxRowBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	scanErr := src.Scan(context.Background(), want, func(*Block) error { return nil })
	if scanErr == nil || !strings.Contains(scanErr.Error(), ":2: a row longer than 200 bytes") {
		t.Fatalf("Scan: %v", scanErr)
	}
	for p := range 3 {
		if _, err := scanPart(src, want, p, 3); err == nil || err.Error() != scanErr.Error() {
			t.Errorf("part %d of 3: %v, want %v", p, err, scanErr)
		}
	}

	// A part reads no further than its last chunk: a row too long after
	// it is no error of the part.
	long = append(append([]byte{}, text...), "1,\""+strings.Repeat("z", 300)+"\",2,3\n"...)
	path = filepath.Join(dir, "longlast.csv")
	writeFile(t, path, long)
	src, err = OpenCSV(path, CSVOptions{ChunkSize: 64, MaxRowBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	scanErr = src.Scan(context.Background(), want, func(*Block) error { return nil })
	if scanErr == nil || !strings.Contains(scanErr.Error(), "a row longer than 200 bytes") {
		t.Fatalf("Scan: %v", scanErr)
	}
	if _, err := scanPart(src, want, 0, 2); err != nil {
		t.Errorf("part 0 of 2, a row too long in part 1: %v", err)
	}
	if _, err := scanPart(src, want, 1, 2); err == nil || err.Error() != scanErr.Error() {
		t.Errorf("part 1 of 2: %v, want %v", err, scanErr)
	}

	// A header without rows: Scan's error, but every part is empty.
	path = filepath.Join(dir, "empty.csv")
	writeFile(t, path, []byte("a,b\n\n"))
	src, err = OpenCSV(path, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Scan(context.Background(), Wants(2, Auto), func(*Block) error { return nil }); err == nil {
		t.Error("Scan of a header without rows succeeds")
	}
	for p := range 2 {
		blocks, err := scanPart(src, Wants(2, Auto), p, 2)
		if err != nil || len(blocks) != 0 {
			t.Errorf("part %d of 2 of a header without rows: %d blocks, %v", p, len(blocks), err)
		}
	}
}

func TestCSVSplittable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text, _ := partCSV(50, "\n", -1)
	want := Wants(4, Text)

	// A stream: refused, and left unread for its one Scan.
	src, err := NewCSVReader(bytes.NewReader(text), "stdin", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	split := src.Splittable()
	if split == nil || !strings.Contains(split.Error(), "stdin") || !strings.Contains(split.Error(), "read only once") {
		t.Errorf("Splittable of a stream: %v", split)
	}
	if err := src.ScanPart(context.Background(), want, 0, 1, func(*Block) error { return nil }); err == nil || err.Error() != split.Error() {
		t.Errorf("ScanPart of a stream: %v, want %v", err, split)
	}
	n, err := scanSource(t, src, want)
	if err != nil || len(n.cells) != 50 {
		t.Fatalf("Scan of the stream after ScanPart: %v", err)
	}
	if err := src.Splittable(); err == nil {
		t.Error("Splittable of a stream read: nil")
	}

	// gzip: refused, saying why.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(text)
	zw.Close()
	path := filepath.Join(dir, "t.csv.gz")
	writeFile(t, path, z.Bytes())
	gz, err := OpenCSV(path, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	split = gz.Splittable()
	if split == nil || !strings.Contains(split.Error(), path) || !strings.Contains(split.Error(), "gzip") {
		t.Errorf("Splittable of a gzip file: %v", split)
	}
	if err := gz.ScanPart(context.Background(), want, 1, 2, func(*Block) error { return nil }); err == nil || err.Error() != split.Error() {
		t.Errorf("ScanPart of a gzip file: %v, want %v", err, split)
	}
	if _, err := scanSource(t, gz, want); err != nil {
		t.Errorf("Scan of the gzip file: %v", err)
	}

	// A closed file.
	path = filepath.Join(dir, "t.csv")
	writeFile(t, path, text)
	f, err := OpenCSV(path, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Splittable(); err != nil {
		t.Errorf("Splittable of a file: %v", err)
	}
	f.Close()
	if err := f.Splittable(); err == nil {
		t.Error("Splittable of a closed file: nil")
	}
}

func TestParquetScanPart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text, _ := partCSV(1000, "\n", -1)
	writeFile(t, filepath.Join(dir, "p.csv"), text)
	csvSrc, err := OpenCSV(filepath.Join(dir, "p.csv"), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.parquet")
	writeParquetFile(t, path, csvSrc, ParquetWriteOptions{RowGroupRows: 90})
	csvSrc.Close()
	src, err := OpenParquet(path, ParquetOptions{BlockRows: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.RowGroups() != 12 {
		t.Fatalf("%d row groups", src.RowGroups())
	}
	if err := src.Splittable(); err != nil {
		t.Fatal(err)
	}
	want := []ColumnWant{Auto, Text, Auto, Skip}
	full := collectBlocks(t, src, want)
	for _, n := range []int{1, 2, 3, 5, 7, 12, 17} {
		rows := checkPartScans(t, src, want, full, n, false)
		// Part p holds row groups [⌊12p/n⌋, ⌊12(p+1)/n⌋) of 90 rows (the
		// last of 10).
		for p, r := range rows {
			lo, hi := 12*p/n, 12*(p+1)/n
			wantRows := 90 * (hi - lo)
			if hi == 12 && lo < hi {
				wantRows -= 80
			}
			if r != wantRows {
				t.Errorf("part %d of %d: %d rows, want %d", p, n, r, wantRows)
			}
		}
	}
}

func TestNpyScanPart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.npy")
	const rows, dim = 1000, 3
	values := make([]float64, rows*dim)
	for i := range values {
		values[i] = float64(i) / 8
	}
	values[7] = math.NaN()
	values[1500] = math.Inf(1)
	testdata.WriteNpy(t, path, "<f4", fmt.Sprintf("%d, %d", rows, dim), values)
	src, err := OpenNpy(path, "", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Splittable(); err != nil {
		t.Fatal(err)
	}
	want := []ColumnWant{Auto, Text, Auto}
	full := collectBlocks(t, src, want)
	if len(full) != 16 {
		t.Fatalf("%d blocks", len(full))
	}
	for _, n := range []int{1, 2, 3, 5, 7, 16, 20} {
		partRows := checkPartScans(t, src, want, full, n, false)
		for p, r := range partRows {
			lo, hi := 16*p/n, 16*(p+1)/n
			wantRows := 64 * (hi - lo)
			if hi == 16 && lo < hi {
				wantRows -= 16*64 - rows
			}
			if r != wantRows {
				t.Errorf("part %d of %d: %d rows, want %d", p, n, r, wantRows)
			}
		}
	}
}

func TestCacheScanPart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text, _ := partCSV(400, "\r\n", -1)
	csvSrc, err := NewCSVReader(bytes.NewReader(text), "c.csv", CSVOptions{ChunkSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	want := []ColumnWant{Auto, Text, Auto, Skip}
	path := filepath.Join(dir, "c.cache")
	if err := WriteCache(context.Background(), path, csvSrc, want, nil); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Splittable(); err != nil {
		t.Fatal(err)
	}
	full := collectBlocks(t, src, want)
	b := len(full)
	if b < 10 {
		t.Fatalf("%d blocks", b)
	}
	for _, n := range []int{1, 2, 3, 5, 7, b + 3} {
		checkPartScans(t, src, want, full, n, false)
		for p := range n {
			blocks, _ := scanPart(src, want, p, n)
			if lo, hi := b*p/n, b*(p+1)/n; len(blocks) != hi-lo || (lo < hi && blocks[0].Row != full[lo].Row) {
				t.Fatalf("part %d of %d: %d blocks, want blocks [%d, %d)", p, n, len(blocks), lo, hi)
			}
		}
	}
}

// partScanners opens a small table as each kind of PartScanner, with
// four columns.
func partScanners(t *testing.T) []PartScanner {
	t.Helper()
	dir := t.TempDir()
	text, _ := partCSV(200, "\n", -1)
	csvPath := filepath.Join(dir, "t.csv")
	writeFile(t, csvPath, text)
	csvSrc, err := OpenCSV(csvPath, CSVOptions{ChunkSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { csvSrc.Close() })
	npyPath := filepath.Join(dir, "t.npy")
	testdata.WriteNpy(t, npyPath, "<f8", "200, 4", make([]float64, 800))
	npySrc, err := OpenNpy(npyPath, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { npySrc.Close() })
	pqPath := filepath.Join(dir, "t.parquet")
	writeParquetFile(t, pqPath, csvSrc, ParquetWriteOptions{RowGroupRows: 20})
	pqSrc, err := OpenParquet(pqPath, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pqSrc.Close() })
	cachePath := filepath.Join(dir, "t.cache")
	if err := WriteCache(context.Background(), cachePath, csvSrc, Wants(4, Auto), nil); err != nil {
		t.Fatal(err)
	}
	cacheSrc, err := OpenCache(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cacheSrc.Close() })
	return []PartScanner{csvSrc, npySrc, pqSrc, cacheSrc}
}

// TestScanPartPanics checks that a part out of range is a programming
// error for every source.
func TestScanPartPanics(t *testing.T) {
	t.Parallel()
	for _, src := range partScanners(t) {
		for _, pn := range [][2]int{{1, 1}, {-1, 2}, {0, 0}, {3, 2}} {
			func() {
				defer func() {
					r := recover()
					msg := fmt.Sprintf("data: ScanPart of %s: part %d of %d", src.Name(), pn[0], pn[1])
					if r != msg {
						t.Errorf("part %d of %d: panic %v, want %q", pn[0], pn[1], r, msg)
					}
				}()
				src.ScanPart(context.Background(), Wants(4, Auto), pn[0], pn[1], func(*Block) error { return nil })
			}()
		}
	}
}

// TestScanPartCancelled checks that a part of a cancelled scan returns
// the context's error, also while a text file is walked to the part.
func TestScanPartCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, src := range partScanners(t) {
		err := src.ScanPart(ctx, Wants(4, Auto), 2, 3, func(*Block) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", src.Name(), err)
		}
	}
}

// Part shows a part as a source: its Scan is the part's, its rows are
// unknown, and closing it leaves the file open.
func TestPartAsSource(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.csv")
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := range 300 {
		fmt.Fprintf(&b, "%d,x%d\n", i, i%7)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := Wants(2, Auto)
	var viaPart, direct []float64
	part := Part(src, 1, 3)
	if part.Rows() != -1 || part.Name() != path || len(part.Columns()) != 2 {
		t.Fatalf("the part of %s: %d rows, columns %v", part.Name(), part.Rows(), part.Columns())
	}
	if err := part.Scan(context.Background(), want, func(b *Block) error { viaPart = append(viaPart, b.Cols[0].Num[:b.N]...); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := part.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.ScanPart(context.Background(), want, 1, 3, func(b *Block) error { direct = append(direct, b.Cols[0].Num[:b.N]...); return nil }); err != nil {
		t.Fatalf("after closing the part: %v", err)
	}
	if len(viaPart) == 0 || len(viaPart) >= 300 || !slices.Equal(viaPart, direct) {
		t.Errorf("the part's scan gave %d rows, ScanPart %d", len(viaPart), len(direct))
	}
}

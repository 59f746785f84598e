package data

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// scanAll reads a source into rows of cell texts as the reference reader
// would give them trimmed, checking each block's invariants on the way.
// With want Auto it also checks Num against parseCell of the text.
type scanned struct {
	header []string
	blocks []int // N of each block
	lines  []int64
	cells  [][]string // trimmed text of each delivered cell ("" for Skip)
	nums   [][]float64
	isNum  [][]bool
}

func scanSource(t testing.TB, src Source, want []ColumnWant) (*scanned, error) {
	t.Helper()
	out := &scanned{header: src.Columns()}
	var row int64
	err := src.Scan(context.Background(), want, func(b *Block) error {
		if b.Row != row {
			return fmt.Errorf("block starts at row %d, want %d", b.Row, row)
		}
		if b.N <= 0 {
			return fmt.Errorf("empty block")
		}
		if len(b.Cols) != len(want) {
			return fmt.Errorf("%d columns, want %d", len(b.Cols), len(want))
		}
		row += int64(b.N)
		out.blocks = append(out.blocks, b.N)
		for c, w := range want {
			col := &b.Cols[c]
			switch w {
			case Skip:
				if col.Num != nil || col.Codes != nil || col.Dict != nil {
					return fmt.Errorf("skipped column %d is delivered", c)
				}
			case Auto:
				if len(col.Num) != b.N || (col.Codes != nil && len(col.Codes) != b.N) {
					return fmt.Errorf("column %d: %d values, %d codes for %d rows", c, len(col.Num), len(col.Codes), b.N)
				}
			case Text:
				if col.Num != nil || len(col.Codes) != b.N {
					return fmt.Errorf("text column %d: %d values, %d codes for %d rows", c, len(col.Num), len(col.Codes), b.N)
				}
			}
			for _, k := range col.Codes {
				if k < -1 || int(k) >= len(col.Dict) || (k == -1 && w == Text) {
					return fmt.Errorf("column %d: code %d with %d texts", c, k, len(col.Dict))
				}
			}
		}
		for i := range b.N {
			out.lines = append(out.lines, b.Line(i))
			cells := make([]string, len(want))
			nums := make([]float64, len(want))
			isNum := make([]bool, len(want))
			for c, w := range want {
				col := &b.Cols[c]
				switch w {
				case Auto:
					nums[c] = col.Num[i]
					isNum[c] = col.Codes == nil || col.Codes[i] < 0
					if isNum[c] {
						cells[c] = formatNumber(col.Num[i])
					} else {
						cells[c] = col.Dict[col.Codes[i]]
					}
				case Text:
					cells[c] = col.Text(i)
				}
			}
			out.cells = append(out.cells, cells)
			out.nums = append(out.nums, nums)
			out.isNum = append(out.isNum, isNum)
		}
		return nil
	})
	return out, err
}

// checkAgainstTable compares a scan with the rows of the reference reader.
func checkAgainstTable(t testing.TB, got *scanned, tab *Table, want []ColumnWant) {
	t.Helper()
	if !equalStrings(got.header, tab.Header) {
		t.Fatalf("header %q, want %q", got.header, tab.Header)
	}
	if len(got.cells) != len(tab.Rows) {
		t.Fatalf("%d rows, want %d", len(got.cells), len(tab.Rows))
	}
	for r, row := range tab.Rows {
		if got.lines[r] != int64(tab.Lines[r]) {
			t.Fatalf("row %d: line %d, want %d", r, got.lines[r], tab.Lines[r])
		}
		for c, w := range want {
			text := strings.TrimSpace(row[c])
			switch w {
			case Text:
				if got.cells[r][c] != text {
					t.Fatalf("row %d column %d: text %q, want %q", r, c, got.cells[r][c], text)
				}
			case Auto:
				kind, v := parseCell(row[c])
				wantNum := cellNum(kind, v)
				gotNum := got.nums[r][c]
				if math.Float64bits(gotNum) != math.Float64bits(wantNum) && !(math.IsNaN(gotNum) && math.IsNaN(wantNum)) {
					t.Fatalf("row %d column %d (%q): value %v, want %v", r, c, row[c], gotNum, wantNum)
				}
				if got.isNum[r][c] != (kind == cellNumber) {
					t.Fatalf("row %d column %d (%q): number %v, want %v", r, c, row[c], got.isNum[r][c], kind == cellNumber)
				}
				if kind != cellNumber && got.cells[r][c] != text {
					t.Fatalf("row %d column %d: text %q, want %q", r, c, got.cells[r][c], text)
				}
			}
		}
	}
}

// randomCSV writes a random table with encoding/csv: numbers, text,
// missing tokens, quoted fields with delimiters, quotes, CRs and
// newlines, CR LF line ends, blank and white-space-only lines.
func randomCSV(rng *rand.Rand, delim rune) []byte {
	ncols := 1 + rng.IntN(6)
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = delim
	w.UseCRLF = rng.IntN(3) == 0
	header := make([]string, ncols)
	for i := range header {
		header[i] = fmt.Sprintf("c%d", i)
		if rng.IntN(4) == 0 {
			header[i] = fmt.Sprintf("c%d\n,%c\"", i, delim)
		}
	}
	w.Write(header)
	nrows := 1 + rng.IntN(60)
	texts := []string{"", " ", "?", "NA", "nan", "inf", "-Inf", "1e999", "abc", " x y ", "a,b", "a\tb", "q\"q", "line\nbreak",
		"cr\rx", "crlf\r\nx", "\"", "12", "-0", "0x10", "1_0", "+.5", "1.", "\u00a01.5\u00a0", "日本"}
	for range nrows {
		if rng.IntN(10) == 0 {
			w.Flush()
			blank := []string{"\n", "\r\n", "  \n", "\t\n"}[rng.IntN(4)]
			if delim == '\t' && blank == "\t\n" {
				blank = " \r\n"
			}
			b.WriteString(blank)
		}
		rec := make([]string, ncols)
		for c := range rec {
			switch rng.IntN(4) {
			case 0:
				rec[c] = texts[rng.IntN(len(texts))]
			case 1:
				rec[c] = fmt.Sprintf("%d", rng.IntN(100000)-500)
			default:
				rec[c] = fmt.Sprintf("%.*f", rng.IntN(8), rng.NormFloat64()*math.Pow(10, float64(rng.IntN(12)-4)))
			}
			if rng.IntN(8) == 0 {
				rec[c] = " " + rec[c] + " "
			}
		}
		if ncols == 1 && rec[0] == "" {
			rec[0] = "x" // a lone empty field would be a blank line
		}
		w.Write(rec)
	}
	w.Flush()
	out := b.Bytes()
	if rng.IntN(3) == 0 && len(out) > 0 && out[len(out)-1] == '\n' {
		out = bytes.TrimRight(out, "\r\n") // no final newline
	}
	return out
}

func randomWants(rng *rand.Rand, n int) []ColumnWant {
	want := make([]ColumnWant, n)
	for i := range want {
		want[i] = ColumnWant(rng.IntN(3))
	}
	return want
}

// TestCSVAgainstReference compares blocks cut at random chunk sizes with
// the sequential reader: quoted fields with newlines, delimiters and
// quotes fall across chunk boundaries again and again.
func TestCSVAgainstReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 400 {
		delim, name := ',', "r.csv"
		if iter%4 == 3 {
			delim, name = '\t', "r.tsv"
		}
		content := randomCSV(rng, delim)
		if iter%7 == 0 {
			content = gz(t, string(content))
			name += ".gz"
		}
		tab, err := Read(bytes.NewReader(content), name)
		if err != nil {
			t.Fatalf("iteration %d: reference: %v\n%q", iter, err, content)
		}
		opts := CSVOptions{ChunkSize: 1 + rng.IntN(200), Threads: 1 + rng.IntN(4)}
		src, err := NewCSVReader(bytes.NewReader(content), name, opts)
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		want := randomWants(rng, len(src.Columns()))
		got, err := scanSource(t, src, want)
		if err != nil {
			t.Fatalf("iteration %d (chunk %d): %v\n%q", iter, opts.ChunkSize, err, content)
		}
		checkAgainstTable(t, got, tab, want)
		if src.Rows() != int64(len(tab.Rows)) {
			t.Fatalf("Rows() = %d, want %d", src.Rows(), len(tab.Rows))
		}
	}
}

// TestCSVBlocksIndependentOfThreads checks that the cut into blocks
// depends on the chunk size only.
func TestCSVBlocksIndependentOfThreads(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var content []byte
	for len(content) < 20000 {
		content = append(content, randomCSV(rng, ',')...)
		break
	}
	var b bytes.Buffer
	b.WriteString("a,b,c\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "%d,\"x\n%d\",%d.5\n", i, i%7, i)
	}
	var first []int
	for threads := 1; threads <= 5; threads++ {
		src, err := NewCSVReader(bytes.NewReader(b.Bytes()), "t.csv", CSVOptions{ChunkSize: 997, Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		got, err := scanSource(t, src, []ColumnWant{Auto, Text, Auto})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.blocks) < 10 {
			t.Fatalf("only %d blocks", len(got.blocks))
		}
		if first == nil {
			first = got.blocks
		} else if fmt.Sprint(first) != fmt.Sprint(got.blocks) {
			t.Fatalf("threads %d: blocks %v, with 1 thread %v", threads, got.blocks, first)
		}
		if got.lines[2999] != 2+2*2999 || got.cells[2999][1] != "x\n3" {
			t.Fatalf("last row: line %d, cell %q", got.lines[2999], got.cells[2999][1])
		}
	}
}

func TestCSVFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		content    []byte
		header     []string
		rows       [][]string
		lines      []int64
	}{
		{"csv", "a.csv", []byte("x,y\n1,2\n3,4\n"), []string{"x", "y"}, [][]string{{"1", "2"}, {"3", "4"}}, []int64{2, 3}},
		{"crlf, no final newline", "a.csv", []byte("x,y\r\n1,2\r\n3,4"), []string{"x", "y"}, [][]string{{"1", "2"}, {"3", "4"}}, []int64{2, 3}},
		{"quoted newline keeps line numbers", "a.csv", []byte("x,y\n\"a\nb\",2\n3,4\n\"c\"\"d\",5\n"), []string{"x", "y"},
			[][]string{{"a\nb", "2"}, {"3", "4"}, {`c"d`, "5"}}, []int64{2, 4, 5}},
		{"blank lines skipped", "a.csv", []byte("x,y\n\n1,2\n   \n3,4\n\n"), []string{"x", "y"}, [][]string{{"1", "2"}, {"3", "4"}}, []int64{3, 5}},
		{"header names trimmed, BOM dropped", "a.csv", []byte("\ufeff x , y\n1,2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{2}},
		{"tsv by extension", "a.tsv", []byte("x,1\ty\n1,5\t2\n"), []string{"x,1", "y"}, [][]string{{"1,5", "2"}}, []int64{2}},
		{"tab by extension with bare quote", "a.TAB", []byte("x\ty\n5\" disk\t2\n"), []string{"x", "y"}, [][]string{{`5" disk`, "2"}}, []int64{2}},
		{"tsv sniffed from the header", "data.txt", []byte("x\ty\n1\t2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{2}},
		{"tabs and commas in header means csv", "data.txt", []byte("x\ta,y\n1\t2,3\n"), []string{"x\ta", "y"}, [][]string{{"1\t2", "3"}}, []int64{2}},
		{"gzip by extension", "a.csv.gz", gz(t, "x,y\n1,2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{2}},
		{"gzip by magic bytes", "a.csv", gz(t, "x,y\n1,2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{2}},
		{"gzipped tsv", "a.tsv.gz", gz(t, "x\ty\n1\t2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{2}},
		{"semicolons", "a.csv", []byte("x;y;z\n1,5;2;\"a;b\"\n"), []string{"x", "y", "z"}, [][]string{{"1,5", "2", "a;b"}}, []int64{2}},
		{"vertical bars", "a.txt", []byte("x|y\n1|2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{2}},
		{"more bars than semicolons", "a.txt", []byte("x;1|y|z\n1|2|3\n"), []string{"x;1", "y", "z"}, [][]string{{"1", "2", "3"}}, []int64{2}},
		{"one column", "a.csv", []byte("x\n1\n\n  \n2\n"), []string{"x"}, [][]string{{"1"}, {""}, {"2"}}, []int64{2, 4, 5}},
		{"old Mac line ends", "mac.csv", []byte("x,y\r1,2\r\r3,\"a\rb\"\r"), []string{"x", "y"}, [][]string{{"1", "2"}, {"3", "a\nb"}}, []int64{2, 4}},
		{"old Mac line ends, gzip", "mac.csv.gz", gz(t, "x,y\r1,2\r3,4"), []string{"x", "y"}, [][]string{{"1", "2"}, {"3", "4"}}, []int64{2, 3}},
		{"leading blank lines", "a.csv", []byte("\n\r\nx,y\n1,2\n"), []string{"x", "y"}, [][]string{{"1", "2"}}, []int64{4}},
		{"quoted header over two lines", "a.csv", []byte("\"x\ny\",z\n1,2\n"), []string{"x\ny", "z"}, [][]string{{"1", "2"}}, []int64{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{1, 3, 1 << 20} {
				src, err := NewCSVReader(bytes.NewReader(tc.content), tc.file, CSVOptions{ChunkSize: chunk, Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				if src.Name() != tc.file || src.Rows() != -1 {
					t.Errorf("Name, Rows = %q, %d", src.Name(), src.Rows())
				}
				got, err := scanSource(t, src, Wants(len(tc.header), Text))
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprintf("%q", got.header) != fmt.Sprintf("%q", tc.header) {
					t.Errorf("header %q, want %q", got.header, tc.header)
				}
				if fmt.Sprintf("%q", got.cells) != fmt.Sprintf("%q", tc.rows) {
					t.Errorf("chunk %d: rows %q, want %q", chunk, got.cells, tc.rows)
				}
				if fmt.Sprint(got.lines) != fmt.Sprint(tc.lines) {
					t.Errorf("chunk %d: lines %v, want %v", chunk, got.lines, tc.lines)
				}
				if src.Rows() != int64(len(tc.rows)) {
					t.Errorf("Rows() = %d after the scan, want %d", src.Rows(), len(tc.rows))
				}
			}
		})
	}
}

func TestCSVErrors(t *testing.T) {
	t.Parallel()
	truncated := gz(t, "x,y\n"+strings.Repeat("1,2\n", 5000))
	truncated = truncated[:len(truncated)/2]
	long := "a,b\n1,2\n3," + strings.Repeat("x", 300) + "\n5,6\n"
	tests := []struct {
		name, file string
		content    []byte
		opts       CSVOptions
		want       string
		line       int
	}{
		{"empty", "e.csv", nil, CSVOptions{}, "e.csv: empty file (no header line)", 0},
		{"white space only", "e.csv", []byte("\n \n"), CSVOptions{}, "e.csv: empty file (no header line)", 0},
		{"empty gzip", "e.csv.gz", gz(t, ""), CSVOptions{}, "e.csv.gz: empty file (no header line)", 0},
		{"header only", "h.csv", []byte("a,b\n"), CSVOptions{}, "h.csv:1: header but no data rows", 1},
		{"header and blank lines", "h.csv", []byte("a,b\n\n\n"), CSVOptions{}, "h.csv:1: header but no data rows", 1},
		{"duplicate column", "d.csv", []byte("a,b,a\n1,2,3\n"), CSVOptions{}, `d.csv:1: column "a" (3): duplicate column name (also column 1)`, 1},
		{"duplicate after trimming", "d.csv", []byte("a, a\n1,2\n"), CSVOptions{}, `d.csv:1: column "a" (2): duplicate column name (also column 1)`, 1},
		{"duplicate after blank lines", "d.csv", []byte("\n\na,a\n1,2\n"), CSVOptions{}, `d.csv:3: column "a" (2): duplicate column name (also column 1)`, 3},
		{"empty column name", "n.csv", []byte("a,,b\n1,2,3\n"), CSVOptions{}, `n.csv:1: column "" (2): empty column name`, 1},
		{"ragged short", "r.csv", []byte("a,b,c\n1,2,3\n4,5\n"), CSVOptions{}, "r.csv:3: row has 2 fields, the header has 3", 3},
		{"ragged long after quoted newline", "r.csv", []byte("a,b\n\"x\ny\",2\n1,2,3\n"), CSVOptions{}, "r.csv:4: row has 3 fields, the header has 2", 4},
		{"ragged in a later chunk", "r.csv", []byte("a,b\n" + strings.Repeat("1,2\n", 100) + "1\n"), CSVOptions{ChunkSize: 16}, "r.csv:102: row has 1 fields, the header has 2", 102},
		{"bare quote", "q.csv", []byte("a,b\n1,x\"y\n"), CSVOptions{}, `q.csv:2: malformed row (byte 4 of the line): bare " in non-quoted-field`, 2},
		{"unterminated quote", "q.csv", []byte("a,b\n1,2\n3,\"abc\n"), CSVOptions{}, `q.csv:3: malformed row (byte 8 of the line): extraneous or missing " in quoted-field`, 3},
		{"quote error after quoted newline", "q.csv", []byte("a,b\n1,\"x\ny\"z\n"), CSVOptions{}, `q.csv:3: malformed row (byte 2 of the line): extraneous or missing " in quoted-field (the row starts on line 2)`, 3},
		{"malformed header", "q.csv", []byte("a,\"b\"c\n1,2\n"), CSVOptions{}, `q.csv:1: malformed row (byte 5 of the line): extraneous or missing " in quoted-field`, 1},
		{"gz name, not gzip", "p.csv.gz", []byte("a,b\n1,2\n"), CSVOptions{}, "p.csv.gz: name ends in .gz but the content is not gzip-compressed", 0},
		{"truncated gzip", "t.csv.gz", truncated, CSVOptions{}, "t.csv.gz: reading", 0},
		{"row too long", "l.csv", []byte(long), CSVOptions{MaxRowBytes: 100, ChunkSize: 8}, "l.csv:3: a row longer than 100 bytes", 3},
		{"row too long within a chunk", "l.csv", []byte(long), CSVOptions{MaxRowBytes: 100}, "l.csv:3: a row longer than 100 bytes", 3},
		{"header too long", "l.csv", []byte(strings.Repeat("a", 5000)), CSVOptions{MaxRowBytes: 100}, "l.csv:1: a row longer than 100 bytes", 1},
		{"quote never closed", "l.csv", []byte("a,b\n1,2\n3,\"" + strings.Repeat("x\n", 200)), CSVOptions{MaxRowBytes: 100, ChunkSize: 4}, "l.csv:3: a row longer than 100 bytes", 3},
		{"numpy file", "e.csv", []byte("\x93NUMPY\x01\x00v\x00{'descr': '<f8'}"), CSVOptions{}, "e.csv: a NumPy .npy file, not delimited text", 0},
		{"parquet file", "e.csv", []byte("PAR1\x00\x00"), CSVOptions{}, "e.csv: a Parquet file, not delimited text", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := NewCSVReader(bytes.NewReader(tc.content), tc.file, tc.opts)
			if err == nil {
				_, err = scanSource(t, src, Wants(len(src.Columns()), Auto))
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\nwant %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has more than one line: %q", err)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not *Error", err)
			}
			if de.Line != tc.line || de.File != tc.file {
				t.Errorf("File, Line = %q, %d; want %q, %d", de.File, de.Line, tc.file, tc.line)
			}
		})
	}
}

// TestCSVEndlessLine reads /dev/zero: a "line" that never ends must be
// refused once it passes the bound rather than fill the memory.
func TestCSVEndlessLine(t *testing.T) {
	t.Parallel()
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Skip("no /dev/zero")
	}
	defer f.Close()
	_, err = NewCSVReader(io.LimitReader(f, 1<<30), "/dev/zero", CSVOptions{MaxRowBytes: 4 << 20})
	if err == nil || !strings.HasPrefix(err.Error(), "/dev/zero:1: a row longer than 4194304 bytes") {
		t.Fatalf("error %v", err)
	}
	f2, _ := os.Open("/dev/zero")
	defer f2.Close()
	src, err := NewCSVReader(io.MultiReader(strings.NewReader("a,b\n1,2\n"), f2), "zeros.csv", CSVOptions{MaxRowBytes: 1 << 20, ChunkSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	_, err = scanSource(t, src, []ColumnWant{Auto, Auto})
	if err == nil || !strings.HasPrefix(err.Error(), "zeros.csv:3: a row longer than 1048576 bytes") {
		t.Fatalf("error %v", err)
	}
}

// TestCSVRescanAndStreams scans a file twice (the row count is known
// after the first), and a stream once.
func TestCSVRescanAndStreams(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.csv.gz")
	if err := os.WriteFile(path, gz(t, "a,b\n1,x\n2,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(path, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for pass := range 2 {
		got, err := scanSource(t, src, []ColumnWant{Auto, Text})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.cells) != 2 || got.cells[1][1] != "y" || got.nums[1][0] != 2 || src.Rows() != 2 {
			t.Fatalf("pass %d: %q, Rows %d", pass, got.cells, src.Rows())
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCSV(filepath.Join(t.TempDir(), "none.csv"), CSVOptions{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}

	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("a\n1\n2\n"))
		pw.Close()
	}()
	src, err = NewCSVReader(pr, "-", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := scanSource(t, src, []ColumnWant{Auto}); err != nil || len(got.cells) != 2 {
		t.Fatalf("first scan of a pipe: %v", err)
	}
	if _, err := scanSource(t, src, []ColumnWant{Auto}); err == nil || !strings.Contains(err.Error(), "read only once") {
		t.Fatalf("second scan of a pipe: %v", err)
	}
}

// TestCSVScanStops checks that an error of the callback, ErrStop and a
// cancelled context end a scan of many blocks.
func TestCSVScanStops(t *testing.T) {
	t.Parallel()
	content := "a,b\n" + strings.Repeat("1,2\n", 20000)
	boom := errors.New("boom")
	for _, tc := range []struct {
		ret  error
		want error
	}{{boom, boom}, {ErrStop, nil}, {context.Canceled, context.Canceled}} {
		src, err := NewCSVReader(strings.NewReader(content), "s.csv", CSVOptions{ChunkSize: 100, Threads: 3})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err = src.Scan(ctx, []ColumnWant{Auto, Skip}, func(b *Block) error {
			calls++
			if calls == 3 {
				if tc.ret == context.Canceled {
					cancel()
					return nil
				}
				return tc.ret
			}
			return nil
		})
		cancel()
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("returned %v, want %v", err, tc.want)
		}
		if calls != 3 {
			t.Errorf("%d calls after %v", calls, tc.ret)
		}
		if src.Rows() != -1 {
			t.Errorf("Rows() = %d after a partial scan", src.Rows())
		}
	}
}

// TestParseCellBytes checks the fast number path against strconv through
// parseCell on cells that probe its edges.
func TestParseCellBytes(t *testing.T) {
	t.Parallel()
	cells := []string{"0", "-0", "+0", "1", "1.", ".5", "-.5", "+.5", ".", "-", "+", "", "?", "NA", "na", "NaN", "nan", "+nan",
		"inf", "-inf", "Infinity", "1e5", "1E-5", "0x1p3", "1_000", "9007199254740991", "9007199254740992", "9007199254740993",
		"0.1", "0.30000000000000004", "123456789012345678901234567890", "1.0000000000000000000001", "0.00000000000000000000001",
		"0.000000000000000000000001", "1..2", "1.2.3", "--1", "1-", "12a", "a", "日本", "1e999", "-1e999", "4.9e-324", "1e-400",
		"00012.50000", "17976931348623157" + strings.Repeat("0", 292)}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		cells = append(cells, fmt.Sprintf("%.*f", rng.IntN(25), rng.NormFloat64()*math.Pow(10, float64(rng.IntN(30)-10))))
	}
	for _, s := range cells {
		checkCellBytes(t, s)
	}
}

func checkCellBytes(t *testing.T, s string) {
	t.Helper()
	trimmed := strings.TrimSpace(s)
	wk, wv := parseCell(s)
	gk, gv := parseCellBytes([]byte(trimmed))
	if gk != wk || (wk == cellNumber || wk == cellNonFinite) && math.Float64bits(gv) != math.Float64bits(wv) && !(math.IsNaN(gv) && math.IsNaN(wv)) {
		t.Fatalf("parseCellBytes(%q) = %v, %v; parseCell gives %v, %v", s, gk, gv, wk, wv)
	}
}

func FuzzParseCellBytes(f *testing.F) {
	for _, s := range []string{"1.5", "-0.00001", ".5", "1e5", "nan", "?", "9007199254740993"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkCellBytes(t, s) })
}

// sameFormatAsRead reports whether the reference reader reads content
// with the same format rules as CSVSource, which also knows semicolons,
// vertical bars and CR line ends, and sniffs the header line rather than
// the first line.
func sameFormatAsRead(content []byte) bool {
	if bytes.HasPrefix(content, gzipMagic) || bytes.HasPrefix(content, npyMagic) || bytes.HasPrefix(content, parquetMagic) {
		return false
	}
	content = bytes.TrimPrefix(content, utf8BOM)
	if i := bytes.IndexAny(content, "\r\n"); i >= 0 && content[i] == '\r' && i+1 < len(content) && content[i+1] != '\n' {
		return false
	}
	first := content
	if i := bytes.IndexByte(content, '\n'); i >= 0 {
		first = content[:i]
	}
	if len(bytes.TrimSpace(first)) == 0 {
		return false
	}
	return bytes.ContainsAny(first, ",\t") || !bytes.ContainsAny(first, ";|")
}

// FuzzCSVSource compares the block reader, at a fuzzed chunk size, with
// the sequential reader: the same rows, lines and cells, or the same
// error.
func FuzzCSVSource(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), "x.csv", uint16(3))
	f.Add([]byte("a\tb\n1\t2\n"), "x.tsv", uint16(1))
	f.Add([]byte("a,b\n\"1\n\",2\n"), "x.csv", uint16(2))
	f.Add([]byte("a,b\n\"1\"\"\n,\",2\r\n3,\"\"\n"), "x.csv", uint16(5))
	f.Add([]byte("a\tb\n\"1\"x\n\t\"\n"), "x.tsv", uint16(4))
	f.Add([]byte("\ufeffa,a\n"), "x.csv", uint16(7))
	f.Add([]byte("a,b\n1,x\"y\n"), "x.csv", uint16(1))
	f.Fuzz(func(t *testing.T, content []byte, name string, chunk uint16) {
		if !sameFormatAsRead(content) {
			return
		}
		tab, rerr := Read(bytes.NewReader(content), name)
		src, err := NewCSVReader(bytes.NewReader(content), name, CSVOptions{ChunkSize: int(chunk%512) + 1, Threads: 2})
		var got *scanned
		if err == nil {
			got, err = scanSource(t, src, Wants(len(src.Columns()), Auto))
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("error %v, reference error %v", err, rerr)
		}
		if err != nil {
			if err.Error() != rerr.Error() {
				t.Fatalf("error %q\nreference %q", err, rerr)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		checkAgainstTable(t, got, tab, Wants(len(tab.Header), Auto))
	})
}

// TestCSVMutations runs the fuzz comparison on damaged random tables, so
// that every error path is compared with the reference on each test run.
func TestCSVMutations(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := range 1500 {
		delim, name := ',', "m.csv"
		if iter%3 == 2 {
			delim, name = '\t', "m.tsv"
		}
		content := randomCSV(rng, delim)
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(content) + 1)
			switch rng.IntN(4) {
			case 0:
				content = append(content[:i:i], append([]byte{'"'}, content[i:]...)...)
			case 1:
				if i < len(content) {
					content = append(content[:i:i], content[i+1:]...)
				}
			case 2:
				content = append(content[:i:i], append([]byte{byte(delim)}, content[i:]...)...)
			case 3:
				content = append(content[:i:i], append([]byte("\n"), content[i:]...)...)
			}
		}
		if !sameFormatAsRead(content) {
			continue
		}
		tab, rerr := Read(bytes.NewReader(content), name)
		src, err := NewCSVReader(bytes.NewReader(content), name, CSVOptions{ChunkSize: 1 + rng.IntN(100), Threads: 1 + rng.IntN(3)})
		var got *scanned
		if err == nil {
			got, err = scanSource(t, src, Wants(len(src.Columns()), Auto))
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("iteration %d: error %v, reference error %v\n%q", iter, err, rerr, content)
		}
		if err != nil {
			if err.Error() != rerr.Error() {
				t.Fatalf("iteration %d: error %q\nreference %q\n%q", iter, err, rerr, content)
			}
			continue
		}
		checkAgainstTable(t, got, tab, Wants(len(tab.Header), Auto))
	}
}

// BenchmarkCSVScan scans, on one thread, a table like the ingest
// benchmark's: 40 numbers with 5 decimals, two integer IDs, three
// targets. It reports the time per cell.
func BenchmarkCSVScan(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	for c := range 40 {
		fmt.Fprintf(&buf, "x%d,", c)
	}
	buf.WriteString("user,item,click,buy,spend\n")
	const rows = 20000
	for range rows {
		for range 40 {
			fmt.Fprintf(&buf, "%.5f,", rng.NormFloat64())
		}
		fmt.Fprintf(&buf, "%d,%d,%d,%d,%.2f\n", rng.IntN(50000), rng.IntN(2000), rng.IntN(2), rng.IntN(2), rng.ExpFloat64())
	}
	content := buf.Bytes()
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	for range b.N {
		src, err := NewCSVReader(bytes.NewReader(content), "bench.csv", CSVOptions{Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := src.Scan(context.Background(), Wants(45, Auto), func(*Block) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*45), "ns/cell")
}

// TestCSVSmallChunksReadLittleAhead opens files with small chunks: the
// text read with the header is about a chunk, not the megabyte that
// chooses the delimiter, so that the chunks that follow do not carry it;
// and a header line longer than a chunk is still read whole to choose the
// delimiter.
func TestCSVSmallChunksReadLittleAhead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := range 200_000 {
		fmt.Fprintf(&b, "%d,%d\n", i, i%7)
	}
	path := filepath.Join(dir, "long.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n := len(src.pending.pending); n > 128<<10 {
		t.Errorf("%d bytes read ahead with the header, for chunks of 64 KiB", n)
	}
	var rows int64
	if err := src.Scan(context.Background(), Wants(2, Auto), func(blk *Block) error {
		rows += int64(blk.N)
		return nil
	}); err != nil || rows != 200_000 {
		t.Fatalf("%d rows, %v", rows, err)
	}
	// A header of 150 KB whose one comma comes after 64 KiB of names
	// with semicolons in them: read whole, it is comma-separated.
	var h strings.Builder
	for i := range 15_000 {
		fmt.Fprintf(&h, "c%05d;", i)
	}
	wide := filepath.Join(dir, "wide.csv")
	if err := os.WriteFile(wide, []byte(h.String()+",last\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, err := OpenCSV(wide, CSVOptions{ChunkSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Delimiter() != ',' || len(ws.Columns()) != 2 {
		t.Errorf("delimiter %q, %d columns", ws.Delimiter(), len(ws.Columns()))
	}
}

// TestCSVMemoryFlat: the reader's memory does not grow with the file. A
// file of 450 chunks of 64 KiB is scanned and the live heap, after a
// collection, is the same (within 1 MB) at the 50th block and at the
// 400th: the buffers in flight stay near the chunk size. Not parallel:
// the heap is the test's.
func TestCSVMemoryFlat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flat.csv")
	var b bytes.Buffer
	b.WriteString("a,b,c,d,e,f\n")
	rng := rand.New(rand.NewPCG(3, 4))
	for b.Len() < 450*64<<10 {
		fmt.Fprintf(&b, "%.5f,%.5f,%.5f,%.5f,%.5f,x%d\n", rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64(), rng.IntN(9))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b = bytes.Buffer{}
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var early, late uint64
	blocks := 0
	err = src.Scan(context.Background(), Wants(6, Auto), func(blk *Block) error {
		blocks++
		switch blocks {
		case 50:
			early = heap()
		case 400:
			late = heap()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d blocks: live heap %.1f MB at the 50th, %.1f MB at the 400th", blocks, float64(early)/1e6, float64(late)/1e6)
	if blocks < 400 || late > early+1<<20 {
		t.Errorf("%d blocks: live heap %d bytes at the 50th block, %d at the 400th", blocks, early, late)
	}
}

package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// gz compresses s.
func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		content    []byte
		header     []string
		rows       [][]string
		lines      []int
	}{
		{
			name: "csv", file: "a.csv",
			content: []byte("x,y\n1,2\n3,4\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}, {"3", "4"}}, lines: []int{2, 3},
		},
		{
			name: "crlf and no final newline", file: "a.csv",
			content: []byte("x,y\r\n1,2\r\n3,4"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}, {"3", "4"}}, lines: []int{2, 3},
		},
		{
			name: "quoted newline keeps line numbers", file: "a.csv",
			content: []byte("x,y\n\"a\nb\",2\n3,4\n\"c\"\"d\",5\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"a\nb", "2"}, {"3", "4"}, {`c"d`, "5"}}, lines: []int{2, 4, 5},
		},
		{
			name: "blank lines skipped", file: "a.csv",
			content: []byte("x,y\n\n1,2\n   \n3,4\n\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}, {"3", "4"}}, lines: []int{3, 5},
		},
		{
			name: "header names trimmed, BOM dropped", file: "a.csv",
			content: []byte("\ufeff x , y\n1,2\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}}, lines: []int{2},
		},
		{
			name: "tsv by extension", file: "a.tsv",
			content: []byte("x,1\ty\n1,5\t2\n"),
			header:  []string{"x,1", "y"}, rows: [][]string{{"1,5", "2"}}, lines: []int{2},
		},
		{
			name: "tab by extension with bare quote", file: "a.TAB",
			content: []byte("x\ty\n5\" disk\t2\n"),
			header:  []string{"x", "y"}, rows: [][]string{{`5" disk`, "2"}}, lines: []int{2},
		},
		{
			name: "tsv sniffed from the header", file: "data.txt",
			content: []byte("x\ty\n1\t2\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}}, lines: []int{2},
		},
		{
			name: "tabs and commas in header means csv", file: "data.txt",
			content: []byte("x\ta,y\n1\t2,3\n"),
			header:  []string{"x\ta", "y"}, rows: [][]string{{"1\t2", "3"}}, lines: []int{2},
		},
		{
			name: "gzip by extension", file: "a.csv.gz",
			content: gz(t, "x,y\n1,2\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}}, lines: []int{2},
		},
		{
			name: "gzip by magic bytes", file: "a.csv",
			content: gz(t, "x,y\n1,2\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}}, lines: []int{2},
		},
		{
			name: "gzipped tsv", file: "a.tsv.gz",
			content: gz(t, "x\ty\n1\t2\n"),
			header:  []string{"x", "y"}, rows: [][]string{{"1", "2"}}, lines: []int{2},
		},
		{
			name: "colon in column name", file: "a.csv",
			content: []byte("a:b,c\n1,2\n"),
			header:  []string{"a:b", "c"}, rows: [][]string{{"1", "2"}}, lines: []int{2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tab, err := Read(bytes.NewReader(tc.content), tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Path != tc.file {
				t.Errorf("Path = %q, want %q", tab.Path, tc.file)
			}
			if !reflect.DeepEqual(tab.Header, tc.header) {
				t.Errorf("Header = %q, want %q", tab.Header, tc.header)
			}
			if !reflect.DeepEqual(tab.Rows, tc.rows) {
				t.Errorf("Rows = %q, want %q", tab.Rows, tc.rows)
			}
			if !reflect.DeepEqual(tab.Lines, tc.lines) {
				t.Errorf("Lines = %v, want %v", tab.Lines, tc.lines)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	truncated := gz(t, "x,y\n"+strings.Repeat("1,2\n", 5000))
	truncated = truncated[:len(truncated)/2]
	tests := []struct {
		name, file string
		content    []byte
		want       string
		line       int
	}{
		{"empty", "e.csv", nil, "e.csv: empty file (no header line)", 0},
		{"white space only", "e.csv", []byte("\n \n"), "e.csv: empty file (no header line)", 0},
		{"empty gzip", "e.csv.gz", gz(t, ""), "e.csv.gz: empty file (no header line)", 0},
		{"header only", "h.csv", []byte("a,b\n"), "h.csv:1: header but no data rows", 1},
		{"header and blank lines", "h.csv", []byte("a,b\n\n\n"), "h.csv:1: header but no data rows", 1},
		{"duplicate column", "d.csv", []byte("a,b,a\n1,2,3\n"), `d.csv:1: column "a" (3): duplicate column name (also column 1)`, 1},
		{"duplicate after trimming", "d.csv", []byte("a, a\n1,2\n"), `d.csv:1: column "a" (2): duplicate column name (also column 1)`, 1},
		{"duplicate after blank lines", "d.csv", []byte("\n\na,a\n1,2\n"), `d.csv:3: column "a" (2): duplicate column name (also column 1)`, 3},
		{"empty column name", "n.csv", []byte("a,,b\n1,2,3\n"), `n.csv:1: column "" (2): empty column name`, 1},
		{"ragged short", "r.csv", []byte("a,b,c\n1,2,3\n4,5\n"), "r.csv:3: row has 2 fields, the header has 3", 3},
		{"ragged long after quoted newline", "r.csv", []byte("a,b\n\"x\ny\",2\n1,2,3\n"), "r.csv:4: row has 3 fields, the header has 2", 4},
		{"bare quote", "q.csv", []byte("a,b\n1,x\"y\n"), `q.csv:2: malformed row (byte 4 of the line): bare " in non-quoted-field`, 2},
		{"unterminated quote", "q.csv", []byte("a,b\n1,2\n3,\"abc\n"), `q.csv:3: malformed row (byte 8 of the line): extraneous or missing " in quoted-field`, 3},
		{"quote error after quoted newline", "q.csv", []byte("a,b\n1,\"x\ny\"z\n"), `q.csv:3: malformed row (byte 2 of the line): extraneous or missing " in quoted-field (the row starts on line 2)`, 3},
		{"gz name, not gzip", "p.csv.gz", []byte("a,b\n1,2\n"), "p.csv.gz: name ends in .gz but the content is not gzip-compressed", 0},
		{"truncated gzip", "t.csv.gz", truncated, "t.csv.gz: reading", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(bytes.NewReader(tc.content), tc.file)
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

func TestReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.csv")
	_, err := ReadFile(missing)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want a not-exist error", err)
	}
	if got, want := err.Error(), missing+": no such file or directory"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}

	path := filepath.Join(dir, "ok.tsv.gz")
	if err := os.WriteFile(path, gz(t, "a\tb\n1\t2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Path != path || len(tab.Rows) != 1 || tab.Rows[0][1] != "2" {
		t.Errorf("ReadFile = %+v", tab)
	}
}

func TestTableColumn(t *testing.T) {
	t.Parallel()
	tab := &Table{Header: []string{"a", "b"}}
	if tab.Column("b") != 1 || tab.Column("c") != -1 {
		t.Errorf("Column: got %d, %d", tab.Column("b"), tab.Column("c"))
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), "x.csv")
	f.Add([]byte("a\tb\n1\t2\n"), "x.tsv")
	f.Add([]byte("a,b\n\"1\n\",2\n"), "x.csv")
	f.Add([]byte("\ufeffa,a\n"), "x.csv")
	f.Add(gz(f, "a,b\n1,2\n"), "x.csv.gz")
	f.Add([]byte{0x1f, 0x8b, 0, 0}, "x")
	f.Fuzz(func(t *testing.T, content []byte, name string) {
		tab, err := Read(bytes.NewReader(content), name)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(name, "\n") {
				t.Fatalf("error has more than one line: %q", err)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if len(tab.Rows) == 0 || len(tab.Rows) != len(tab.Lines) {
			t.Fatalf("%d rows, %d lines", len(tab.Rows), len(tab.Lines))
		}
		prev := 1
		for i, row := range tab.Rows {
			if len(row) != len(tab.Header) {
				t.Fatalf("row %d has %d fields, header %d", i, len(row), len(tab.Header))
			}
			if tab.Lines[i] <= prev {
				t.Fatalf("line numbers not increasing: %v", tab.Lines)
			}
			prev = tab.Lines[i]
		}
		seen := map[string]bool{}
		for _, h := range tab.Header {
			if h == "" || seen[h] {
				t.Fatalf("bad header %q", tab.Header)
			}
			seen[h] = true
		}
	})
}

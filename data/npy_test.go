package data

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

func TestNpy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const rows, dim = 1000, 3
	values := make([]float64, rows*dim)
	for i := range values {
		values[i] = float64(i) / 8
	}
	values[4] = math.NaN()
	values[2999] = math.Inf(-1)
	for _, descr := range []string{"<f8", "<f4"} {
		path := filepath.Join(dir, "emb"+descr[1:]+".npy")
		testdata.WriteNpyOrder(t, path, descr, false, fmt.Sprintf("%d, %d", rows, dim), values)
		s, err := OpenNpy(path, "", 300)
		if err != nil {
			t.Fatal(err)
		}
		wantCols := fmt.Sprintf("[emb%s[0] emb%s[1] emb%s[2]]", descr[1:], descr[1:], descr[1:])
		if s.Rows() != rows || fmt.Sprint(s.Columns()) != wantCols {
			t.Fatalf("%d rows, columns %v", s.Rows(), s.Columns())
		}
		got, err := scanSource(t, s, []ColumnWant{Auto, Text, Auto})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.blocks) != "[300 300 300 100]" {
			t.Errorf("blocks %v", got.blocks)
		}
		for r := range rows {
			for k := range dim {
				v := values[r*dim+k]
				switch {
				case k == 1:
					if got.cells[r][k] != formatNumber(v) {
						t.Fatalf("row %d column %d: text %q, want %q", r, k, got.cells[r][k], formatNumber(v))
					}
				case math.IsNaN(v) || math.IsInf(v, 0):
					if got.isNum[r][k] || got.cells[r][k] != formatNumber(v) || math.Float64bits(got.nums[r][k]) != math.Float64bits(v) && !math.IsNaN(v) {
						t.Fatalf("row %d column %d: %v %q", r, k, got.nums[r][k], got.cells[r][k])
					}
				default:
					if !got.isNum[r][k] || got.nums[r][k] != v {
						t.Fatalf("row %d column %d: %v, want %v", r, k, got.nums[r][k], v)
					}
				}
			}
		}
		if lines := got.lines[0]; lines != 0 {
			t.Errorf("binary source gives line %d", lines)
		}
		s.Close()
	}
}

func TestNpyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name   string
		write  func(path string)
		prefix string
	}{
		{"fortran order", func(p string) { testdata.WriteNpyOrder(t, p, "<f8", true, "2, 2", make([]float64, 4)) }, "a matrix in Fortran (column-major) order"},
		{"int dtype", func(p string) { testdata.WriteNpyOrder(t, p, "<i8", false, "2, 2", make([]float64, 4)) }, `dtype "<i8": only little-endian float32`},
		{"big-endian", func(p string) { testdata.WriteNpyOrder(t, p, ">f8", false, "2, 2", make([]float64, 4)) }, `dtype ">f8"`},
		{"1-D", func(p string) { testdata.WriteNpyOrder(t, p, "<f8", false, "4,", make([]float64, 4)) }, "a 1-D array of shape (4,): only 2-D matrices"},
		{"3-D", func(p string) { testdata.WriteNpyOrder(t, p, "<f8", false, "1, 2, 2", make([]float64, 4)) }, "a 3-D array"},
		{"truncated", func(p string) { testdata.WriteNpyOrder(t, p, "<f8", false, "3, 2", make([]float64, 4)) }, "truncated: shape (3, 2) needs"},
		{"not npy", func(p string) { os.WriteFile(p, []byte("a,b\n1,2\n"), 0o644) }, "not a NumPy .npy file"},
		{"empty", func(p string) { testdata.WriteNpyOrder(t, p, "<f8", false, "0, 2", nil) }, "an empty matrix"},
	}
	for _, tc := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npy")
		tc.write(path)
		_, err := OpenNpy(path, "", 0)
		if err == nil || !strings.HasPrefix(err.Error(), path+": "+tc.prefix) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.prefix)
		}
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const rows = 2500
	var csvText strings.Builder
	csvText.WriteString("id,label\n")
	values := make([]float64, rows*2)
	for i := range rows {
		fmt.Fprintf(&csvText, "%d,%s\n", i, []string{"a", "b", "c"}[i%3])
		values[2*i], values[2*i+1] = float64(i)*2, -float64(i)
	}
	csvPath := filepath.Join(dir, "main.csv")
	os.WriteFile(csvPath, []byte(csvText.String()), 0o644)
	npyPath := filepath.Join(dir, "emb.npy")
	testdata.WriteNpyOrder(t, npyPath, "<f8", false, fmt.Sprintf("%d, 2", rows), values)
	npyText := filepath.Join(dir, "more.csv")
	var more strings.Builder
	more.WriteString("tag\n")
	for i := range rows {
		fmt.Fprintf(&more, "t%d\n", i%7)
	}
	os.WriteFile(npyText, []byte(more.String()), 0o644)

	main, _ := OpenCSV(csvPath, CSVOptions{ChunkSize: 1000})
	emb, err := OpenNpy(npyPath, "e", 333)
	if err != nil {
		t.Fatal(err)
	}
	tags, _ := OpenCSV(npyText, CSVOptions{ChunkSize: 777})
	j, err := Join(main, emb, tags)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if fmt.Sprint(j.Columns()) != "[id label e[0] e[1] tag]" {
		t.Fatalf("columns %v", j.Columns())
	}
	got, err := scanSource(t, j, []ColumnWant{Auto, Text, Auto, Skip, Text})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.cells) != rows {
		t.Fatalf("%d rows", len(got.cells))
	}
	for i := range rows {
		if got.nums[i][0] != float64(i) || got.cells[i][1] != []string{"a", "b", "c"}[i%3] ||
			got.nums[i][2] != float64(i)*2 || got.cells[i][4] != fmt.Sprintf("t%d", i%7) || got.lines[i] != int64(i+2) {
			t.Fatalf("row %d: %v %q line %d", i, got.nums[i], got.cells[i], got.lines[i])
		}
	}

	// Row counts that differ: known up front, or found by the scan.
	short := filepath.Join(dir, "short.npy")
	testdata.WriteNpyOrder(t, short, "<f4", false, "10, 2", make([]float64, 20))
	sh, _ := OpenNpy(short, "s", 0)
	if _, err := Join(emb, sh); err == nil || err.Error() != short+": 10 rows, but "+npyPath+" has 2500: the rows of both are joined one to one" {
		t.Errorf("Join of known counts: %v", err)
	}
	main2, _ := OpenCSV(csvPath, CSVOptions{ChunkSize: 100})
	j2, err := Join(main2, sh)
	if err != nil {
		t.Fatal(err)
	}
	err = j2.Scan(context.Background(), Wants(4, Auto), func(*Block) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), short+": 10 rows, but "+csvPath+" has more") {
		t.Errorf("scan with a short extra: %v", err)
	}
	long := filepath.Join(dir, "long.npy")
	testdata.WriteNpyOrder(t, long, "<f4", false, "2600, 1", make([]float64, 2600))
	lg, _ := OpenNpy(long, "l", 0)
	main3, _ := OpenCSV(csvPath, CSVOptions{ChunkSize: 100})
	j3, _ := Join(main3, lg)
	err = j3.Scan(context.Background(), Wants(3, Auto), func(*Block) error { return nil })
	if err == nil || err.Error() != long+": 2600 rows, but "+csvPath+" has 2500: the rows of both are joined one to one" {
		t.Errorf("scan with a long extra: %v", err)
	}
	if _, err := Join(lg, lg); err == nil || !strings.Contains(err.Error(), `column "l[0]" (1): column name also in`) {
		t.Errorf("duplicate names: %v", err)
	}
}

package data

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

func TestCSVToParquetAndBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text := "id,x,name,mixed,maybe\n" +
		"1,1.5,a,3,\n" +
		"2,-0.25,?,b,7\n" +
		"9007199254740993,1e300,c c,NA,NA\n" +
		"4,inf,,4,8\n"
	for i := range 5000 {
		text += strings.Repeat("5", 1+i%3) + ",0.125,z" + strings.Repeat("z", i%4) + ",x,1\n"
	}
	csvPath := filepath.Join(dir, "t.csv")
	os.WriteFile(csvPath, []byte(text), 0o644)
	src, err := OpenCSV(csvPath, CSVOptions{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	pqPath := filepath.Join(dir, "t.parquet")
	f, _ := os.Create(pqPath)
	if err := WriteParquet(context.Background(), f, src, ParquetWriteOptions{RowGroupRows: 1000}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pq, err := OpenParquet(pqPath, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	if pq.RowGroups() != 6 || pq.Rows() != 5004 {
		t.Errorf("%d row groups, %d rows", pq.RowGroups(), pq.Rows())
	}
	kinds := map[string]string{}
	for _, e := range pq.pf.Metadata().Schema[1:] {
		kinds[e.Name] = e.Type.V.String()
	}
	if kinds["id"] != "DOUBLE" || kinds["x"] != "DOUBLE" || kinds["name"] != "BYTE_ARRAY" || kinds["mixed"] != "BYTE_ARRAY" || kinds["maybe"] != "INT64" {
		t.Errorf("types %v", kinds)
	}
	a, err := scanSource(t, src, Wants(5, Auto))
	if err != nil {
		t.Fatal(err)
	}
	b, err := scanSource(t, pq, Wants(5, Auto))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.cells) != len(b.cells) {
		t.Fatalf("%d rows, want %d", len(b.cells), len(a.cells))
	}
	for r := range a.cells {
		for c := range 5 {
			x, y := a.nums[r][c], b.nums[r][c]
			switch {
			case c == 2 || c == 3: // text columns keep every text
				if a.cells[r][c] != b.cells[r][c] {
					t.Fatalf("row %d column %d: %q, want %q", r, c, b.cells[r][c], a.cells[r][c])
				}
			case a.isNum[r][c] || math.IsInf(x, 0):
				if x != y {
					t.Fatalf("row %d column %d: %v, want %v", r, c, y, x)
				}
			default: // a missing number is a null
				if !IsMissing(a.cells[r][c]) || b.cells[r][c] != "" || !math.IsNaN(y) {
					t.Fatalf("row %d column %d: %v %q for %q", r, c, y, b.cells[r][c], a.cells[r][c])
				}
			}
		}
	}
}

func TestParquetToCSVAndBack(t *testing.T) {
	t.Parallel()
	pq, err := OpenParquet(testdata.File(t, "parquet-interop/adult_test.duckdb.parquet"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	var buf bytes.Buffer
	if err := WriteCSV(context.Background(), &buf, pq); err != nil {
		t.Fatal(err)
	}
	back, err := NewCSVReader(&buf, "adult.csv", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := scanSource(t, pq, Wants(len(pq.Columns()), Text))
	if err != nil {
		t.Fatal(err)
	}
	b, err := scanSource(t, back, Wants(len(pq.Columns()), Text))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.cells) != 16281 || len(b.cells) != len(a.cells) {
		t.Fatalf("%d rows back, want %d", len(b.cells), len(a.cells))
	}
	for r := range a.cells {
		for c := range a.cells[r] {
			if a.cells[r][c] != b.cells[r][c] {
				t.Fatalf("row %d column %d: %q, want %q", r, c, b.cells[r][c], a.cells[r][c])
			}
		}
	}
}

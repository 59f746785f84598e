package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
	writeParquetFile(t, pqPath, src, ParquetWriteOptions{RowGroupRows: 1000})
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

// decodeHybrid decodes n values of the given bit width in the RLE /
// bit-packing hybrid encoding, as the Parquet format defines it.
func decodeHybrid(t *testing.T, b []byte, width, n int) []uint32 {
	t.Helper()
	var out []uint32
	for len(out) < n {
		h, k := binary.Uvarint(b)
		if k <= 0 {
			t.Fatalf("bad run header after %d values", len(out))
		}
		b = b[k:]
		if h&1 == 0 {
			nb := (width + 7) / 8
			var v uint32
			for i := range nb {
				v |= uint32(b[i]) << (8 * i)
			}
			b = b[nb:]
			for range h >> 1 {
				out = append(out, v)
			}
			continue
		}
		groups := int(h >> 1)
		var acc uint64
		nbits, p := 0, 0
		for range groups * 8 {
			for nbits < width {
				acc |= uint64(b[p]) << nbits
				p++
				nbits += 8
			}
			out = append(out, uint32(acc&(1<<width-1)))
			acc >>= width
			nbits -= width
		}
		b = b[p:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left over", len(b))
	}
	return out[:n]
}

func TestHybridEncodings(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		n := rng.IntN(300)
		present := make([]bool, n)
		mode := trial % 3
		for i := range present {
			switch mode {
			case 0:
				present[i] = rng.IntN(2) == 0
			case 1:
				present[i] = (i/(1+rng.IntN(20)))%2 == 0
			default:
				present[i] = rng.IntN(50) != 0
			}
		}
		got := decodeHybrid(t, appendLevels(nil, present), 1, n)
		for i, p := range present {
			if (got[i] == 1) != p {
				t.Fatalf("trial %d: level %d is %d, want %v", trial, i, got[i], p)
			}
		}
		width := 1 + trial%24
		values := make([]int32, n)
		for i := range values {
			values[i] = int32(rng.Uint32() & (1<<width - 1))
		}
		got = decodeHybrid(t, appendBitPacked(nil, values, width), width, n)
		for i, v := range values {
			if got[i] != uint32(v) {
				t.Fatalf("width %d: value %d is %d, want %d", width, i, got[i], v)
			}
		}
	}
}

// randomTable is a CSV of integers, fractions and texts with missing
// values in runs and at random, and dictionaries of many sizes.
func randomTable(rng *rand.Rand, rows int) string {
	var b strings.Builder
	b.WriteString("int,frac,few,many,one,ragged\n")
	for i := range rows {
		cell := func(s string, pMissing float64) string {
			if rng.Float64() < pMissing {
				return []string{"", "NA", "?"}[rng.IntN(3)]
			}
			return s
		}
		inRun := (i/37)%4 == 0
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s\n",
			cell(fmt.Sprint(rng.IntN(2000)-1000), 0.3),
			cell(fmt.Sprintf("%.4f", rng.NormFloat64()), map[bool]float64{true: 1, false: 0.05}[inRun]),
			cell(fmt.Sprintf("k%d", rng.IntN(5)), 0),
			fmt.Sprintf("id%d", rng.IntN(rows)),
			"same",
			cell(strings.Repeat("x", rng.IntN(4)), 0.5))
	}
	return b.String()
}

func TestWriteParquetRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	text := randomTable(rng, 7000)
	csvPath := filepath.Join(dir, "r.csv")
	if err := os.WriteFile(csvPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(csvPath, CSVOptions{ChunkSize: 3000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, zstd := range []bool{false, true} {
		// Written to a file and to a buffer, the bytes are the same.
		pqPath := filepath.Join(dir, fmt.Sprintf("r%v.parquet", zstd))
		opts := ParquetWriteOptions{RowGroupRows: 1000, Zstd: zstd, Threads: 3}
		writeParquetFile(t, pqPath, src, opts)
		var buf bytes.Buffer
		if err := WriteParquet(context.Background(), &buf, src, opts); err != nil {
			t.Fatal(err)
		}
		onDisk, _ := os.ReadFile(pqPath)
		if !bytes.Equal(onDisk, buf.Bytes()) {
			t.Errorf("zstd %v: %d bytes to a file, %d to a buffer, not the same", zstd, len(onDisk), buf.Len())
		}
		pq, err := OpenParquet(pqPath, ParquetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		types := ColumnTypes(pq)
		if want := []string{"INT64", "DOUBLE", "STRING", "STRING", "STRING", "STRING"}; !slices.Equal(types, want) {
			t.Errorf("types %q, want %q", types, want)
		}
		checkSameCells(t, src, pq)
		pq.Close()
	}
}

// checkSameCells compares a CSV source with the Parquet file written from
// it, cell by cell: numbers by value, a missing number as a null, texts
// as written.
func checkSameCells(t *testing.T, src Source, pq *ParquetSource) {
	t.Helper()
	n := len(src.Columns())
	a, err := scanSource(t, src, Wants(n, Text))
	if err != nil {
		t.Fatal(err)
	}
	b, err := scanSource(t, pq, Wants(n, Auto))
	if err != nil {
		t.Fatal(err)
	}
	types := ColumnTypes(pq)
	if len(a.cells) != len(b.cells) {
		t.Fatalf("%d rows, want %d", len(b.cells), len(a.cells))
	}
	for r := range a.cells {
		for c := range n {
			cell := a.cells[r][c]
			switch {
			case types[c] == "STRING":
				if b.cells[r][c] != cell {
					t.Fatalf("row %d column %d: %q, want %q", r, c, b.cells[r][c], cell)
				}
			case IsMissing(cell):
				if !math.IsNaN(b.nums[r][c]) || b.cells[r][c] != "" {
					t.Fatalf("row %d column %d: %v for the missing %q", r, c, b.nums[r][c], cell)
				}
			default:
				if _, v := parseCell(cell); v != b.nums[r][c] {
					t.Fatalf("row %d column %d: %v, want %s", r, c, b.nums[r][c], cell)
				}
			}
		}
	}
}

// Types decided from the first row group and contradicted later are
// decided again from the whole file, on a file and on a buffer alike.
func TestWriteParquetLateTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("late_fraction,late_text,late_value,ints\n")
	for i := range 3000 {
		frac, txt, val := fmt.Sprint(i), fmt.Sprint(i%7), "NA"
		switch i {
		case 2500:
			frac = "2.5"
		case 2600:
			txt = "seven"
		case 2700:
			val = "3"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%d\n", frac, txt, val, i)
	}
	csvPath := filepath.Join(dir, "late.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(csvPath, CSVOptions{ChunkSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pqPath := filepath.Join(dir, "late.parquet")
	opts := ParquetWriteOptions{RowGroupRows: 1000}
	writeParquetFile(t, pqPath, src, opts)
	var buf bytes.Buffer
	if err := WriteParquet(context.Background(), &buf, src, opts); err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(pqPath)
	if !bytes.Equal(onDisk, buf.Bytes()) {
		t.Errorf("%d bytes to a file, %d to a buffer, not the same", len(onDisk), buf.Len())
	}
	pq, err := OpenParquet(pqPath, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	if types, want := ColumnTypes(pq), []string{"DOUBLE", "STRING", "INT64", "INT64"}; !slices.Equal(types, want) {
		t.Errorf("types %q, want %q", types, want)
	}
	checkSameCells(t, src, pq)
}

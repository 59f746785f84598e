package data

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

// colStats summarises a column as SQL aggregates do: non-null count, sum
// of the non-null numbers, count of distinct texts, minimum and maximum.
type colStats struct {
	count    int
	sum      float64
	distinct int
	min, max string
}

// parquetStats scans a Parquet file with Auto wants and summarises each
// column. Numeric columns give sum, min and max of their numbers (min and
// max as numbers in 'g' form); text columns give distinct, min and max
// of their texts. A null is a cell whose text is "" (numbers) or "?"
// (text).
func parquetStats(t *testing.T, s *ParquetSource, want []ColumnWant) (map[string]*colStats, int64) {
	t.Helper()
	stats := map[string]*colStats{}
	type acc struct {
		texts    map[string]bool
		lo, hi   float64
		anyValue bool
	}
	accs := make([]acc, len(s.Columns()))
	for c := range accs {
		stats[s.Columns()[c]] = &colStats{}
		accs[c] = acc{texts: map[string]bool{}, lo: math.Inf(1), hi: math.Inf(-1)}
	}
	var rows int64
	err := s.Scan(context.Background(), want, func(b *Block) error {
		if b.Row != rows {
			return fmt.Errorf("block at row %d, want %d", b.Row, rows)
		}
		rows += int64(b.N)
		for c := range b.Cols {
			if want[c] == Skip {
				continue
			}
			col := &b.Cols[c]
			st, a := stats[s.Columns()[c]], &accs[c]
			for i := range b.N {
				text := col.Text(i)
				if text == "" || text == "?" {
					continue
				}
				st.count++
				a.texts[text] = true
				if col.Num != nil && !math.IsNaN(col.Num[i]) {
					st.sum += col.Num[i]
					a.lo, a.hi = min(a.lo, col.Num[i]), max(a.hi, col.Num[i])
					a.anyValue = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for c, name := range s.Columns() {
		st, a := stats[name], &accs[c]
		st.distinct = len(a.texts)
		if a.anyValue {
			st.min, st.max = formatNumber(a.lo), formatNumber(a.hi)
		} else {
			for x := range a.texts {
				if st.min == "" || x < st.min {
					st.min = x
				}
				if x > st.max {
					st.max = x
				}
			}
		}
	}
	return stats, rows
}

// TestParquetInterop reads the files of other writers. The expected
// values are DuckDB 1.5's aggregates over the same files (count(col),
// sum(col::DOUBLE), count(DISTINCT col), min, max; timestamps through
// epoch_us, here in seconds), run with the @duckdb/node-api package.
func TestParquetInterop(t *testing.T) {
	t.Parallel()
	type num struct {
		col      string
		count    int
		sum      float64
		min, max string
	}
	type text struct {
		col             string
		count, distinct int
		min, max        string
	}
	tests := []struct {
		file  string
		rows  int64
		cols  int
		skip  []string // columns not read
		nums  []num
		texts []text
	}{
		{file: "alltypes_dictionary.parquet", rows: 2, cols: 11,
			nums: []num{{"id", 2, 1, "0", "1"}, {"bool_col", 2, 1, "0", "1"}, {"bigint_col", 2, 10, "0", "10"},
				{"float_col", 2, 1.100000023841858, "0", "1.100000023841858"}, {"double_col", 2, 10.1, "0", "10.1"},
				{"timestamp_col", 2, 2461536060, "1230768000", "1230768060"}},
			texts: []text{{"date_string_col", 2, 1, "01/01/09", "01/01/09"}, {"string_col", 2, 2, "0", "1"}}},
		{file: "alltypes_plain.parquet", rows: 8, cols: 11,
			nums: []num{{"id", 8, 28, "0", "7"}, {"bool_col", 8, 4, "0", "1"}, {"tinyint_col", 8, 4, "0", "1"}, {"bigint_col", 8, 40, "0", "10"},
				{"float_col", 8, 4.400000095367432, "0", "1.100000023841858"}, {"double_col", 8, 40.4, "0", "10.1"},
				{"timestamp_col", 8, 9877248240, "1230768000", "1238544060"}},
			texts: []text{{"date_string_col", 8, 4, "01/01/09", "04/01/09"}, {"string_col", 8, 2, "0", "1"}}},
		{file: "alltypes_plain.snappy.parquet", rows: 2, cols: 11,
			nums:  []num{{"id", 2, 13, "6", "7"}, {"timestamp_col", 2, 2477088060, "1238544000", "1238544060"}},
			texts: []text{{"date_string_col", 2, 1, "04/01/09", "04/01/09"}}},
		{file: "alltypes_tiny_pages.parquet", rows: 7300, cols: 13,
			nums: []num{{"id", 7300, 26641350, "0", "7299"}, {"bool_col", 7300, 3650, "0", "1"}, {"tinyint_col", 7300, 32850, "0", "9"},
				{"bigint_col", 7300, 328500, "0", "90"}, {"float_col", 7300, 36134.999738931656, "0", "9.899999618530273"},
				{"double_col", 7300, 331785.00000000006, "0", "90.89999999999999"},
				{"timestamp_col", 7300, 9214528036496.52, "1230764400", "1.29376855386e+09"},
				{"year", 7300, 14669350, "2009", "2010"}, {"month", 7300, 47640, "1", "12"}},
			texts: []text{{"date_string_col", 7300, 730, "01/01/09", "12/31/10"}, {"string_col", 7300, 10, "0", "9"}}},
		{file: "byte_stream_split.zstd.parquet", rows: 300, cols: 2,
			nums: []num{{"f32", 300, 8.258872919715941, "-2.772592782974243", "2.3831448554992676"},
				{"f64", 300, -41.22919022747558, "-3.0461430547999266", "2.6962240525635797"}}},
		{file: "concatenated_gzip_members.parquet", rows: 513, cols: 1, nums: []num{{"long_col", 513, 131841, "1", "513"}}},
		{file: "datapage_v2.snappy.parquet", rows: 5, cols: 7, skip: []string{"e[0]", "e[1]", "e[2]"},
			nums:  []num{{"b", 5, 15, "1", "5"}, {"c", 5, 16, "2", "5"}, {"d", 5, 4, "0", "1"}},
			texts: []text{{"a", 4, 1, "abc", "abc"}}},
		{file: "delta_binary_packed.parquet", rows: 200, cols: 66,
			nums: []num{{"bitwidth0", 200, 1.2749257081465877e21, "6374628540732952000", "6374628540732952000"},
				{"bitwidth1", 200, -9728, "-104", "0"}, {"bitwidth16", 200, -21756513, "-347012", "162951"},
				{"bitwidth27", 200, -47769984174, "-736933601", "131734874"}}},
		{file: "float16_nonzeros_and_nans.parquet", rows: 8, cols: 1}, // values checked below
		{file: "int32_with_null_pages.parquet", rows: 1000, cols: 1,
			nums: []num{{"int32_field", 725, -12383254597, "-2136906554", "2145722375"}}},
		{file: "lz4_raw_compressed.parquet", rows: 4, cols: 3,
			nums:  []num{{"c0", 4, 6374419202, "1593604800", "1593604801"}, {"v11", 4, 99.525, "7.7", "42.125"}},
			texts: []text{{"c1", 4, 2, "abc", "def"}}},
		{file: "single_nan.parquet", rows: 1, cols: 1, nums: []num{{"mycol", 0, 0, "", ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			for _, blockRows := range []int{0, 3} {
				s, err := OpenParquet(testdata.File(t, "parquet-interop/"+tc.file), ParquetOptions{BlockRows: blockRows, Threads: 3})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.Rows() != tc.rows || len(s.Columns()) != tc.cols {
					t.Fatalf("%d rows, %d columns %q; want %d, %d", s.Rows(), len(s.Columns()), s.Columns(), tc.rows, tc.cols)
				}
				want := Wants(tc.cols, Auto)
				for c, name := range s.Columns() {
					for _, sk := range tc.skip {
						if name == sk {
							want[c] = Skip
						}
					}
				}
				stats, rows := parquetStats(t, s, want)
				if rows != tc.rows {
					t.Errorf("scanned %d rows, want %d", rows, tc.rows)
				}
				for _, n := range tc.nums {
					st := stats[n.col]
					if st == nil {
						t.Fatalf("no column %q in %q", n.col, s.Columns())
					}
					if st.count != n.count || math.Abs(st.sum-n.sum) > 1e-12*math.Abs(n.sum) || st.min != n.min || st.max != n.max {
						t.Errorf("%s: count %d sum %v min %s max %s; want %d %v %s %s", n.col, st.count, st.sum, st.min, st.max, n.count, n.sum, n.min, n.max)
					}
				}
				for _, x := range tc.texts {
					st := stats[x.col]
					if st.count != x.count || st.distinct != x.distinct || st.min != x.min || st.max != x.max {
						t.Errorf("%s: count %d distinct %d min %q max %q; want %d %d %q %q", x.col, st.count, st.distinct, st.min, st.max, x.count, x.distinct, x.min, x.max)
					}
				}
			}
		})
	}
}

// parquetColumn reads one column of a file whole, with the given want.
func parquetColumn(t *testing.T, rel, name string, w ColumnWant) (nums []float64, texts []string) {
	t.Helper()
	s, err := OpenParquet(testdata.File(t, rel), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := Wants(len(s.Columns()), Skip)
	c := -1
	for i, n := range s.Columns() {
		if n == name {
			c = i
		}
	}
	if c < 0 {
		t.Fatalf("no column %q", name)
	}
	want[c] = w
	err = s.Scan(context.Background(), want, func(b *Block) error {
		col := &b.Cols[c]
		for i := range b.N {
			if col.Num != nil {
				nums = append(nums, col.Num[i])
			}
			texts = append(texts, col.Text(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return nums, texts
}

// TestParquetValues checks single values: float16 with signed zeros and
// NaN, int96 timestamps (DuckDB: epoch_us of each value), and texts of
// numbers with want Text.
func TestParquetValues(t *testing.T) {
	t.Parallel()
	nums, texts := parquetColumn(t, "parquet-interop/float16_nonzeros_and_nans.parquet", "x", Auto)
	// DuckDB: [NULL, 1.0, -2.0, nan, 0.0, -1.0, -0.0, 2.0]
	wantNums := []float64{math.NaN(), 1, -2, math.NaN(), 0, -1, math.Copysign(0, -1), 2}
	wantTexts := []string{"", "1", "-2", "NaN", "0", "-1", "-0", "2"}
	for i := range wantNums {
		if math.Float64bits(nums[i]) != math.Float64bits(wantNums[i]) && !(math.IsNaN(nums[i]) && math.IsNaN(wantNums[i])) || texts[i] != wantTexts[i] {
			t.Errorf("float16 row %d: %v %q, want %v %q", i, nums[i], texts[i], wantNums[i], wantTexts[i])
		}
	}

	// DuckDB epoch_us: 1704141296123456, 1704070800000000, 253402225200000000,
	// 1735599600000000, NULL, then a value out of its range.
	nums, texts = parquetColumn(t, "parquet-interop/int96_from_spark.parquet", "a", Auto)
	for i, want := range []float64{1704141296.123456, 1704070800, 253402225200, 1735599600} {
		if math.Abs(nums[i]-want) > 1e-6 {
			t.Errorf("int96 row %d: %v, want %v", i, nums[i], want)
		}
	}
	if !math.IsNaN(nums[4]) || texts[4] != "" || math.IsNaN(nums[5]) || math.IsInf(nums[5], 0) {
		t.Errorf("int96 rows 5, 6: %v %q, %v", nums[4], texts[4], nums[5])
	}

	_, texts = parquetColumn(t, "parquet-interop/alltypes_plain.parquet", "bool_col", Text)
	if strings.Join(texts, ",") != "true,false,true,false,true,false,true,false" {
		t.Errorf("bool as text: %q", texts)
	}
	_, texts = parquetColumn(t, "parquet-interop/delta_binary_packed.parquet", "bitwidth0", Text)
	if texts[0] != "6374628540732951412" {
		t.Errorf("int64 as text: %q", texts[0])
	}
	_, texts = parquetColumn(t, "parquet-interop/alltypes_plain.parquet", "float_col", Text)
	if texts[1] != "1.1" {
		t.Errorf("float as text: %q", texts[1])
	}
	nums, texts = parquetColumn(t, "parquet-interop/lz4_raw_compressed.parquet", "c1", Auto)
	if !math.IsNaN(nums[0]) || texts[1] != "def" {
		t.Errorf("string as auto: %v %q", nums, texts)
	}
}

// TestParquetRefused checks that damaged and nested files are refused
// with a message that says why, and do not panic.
func TestParquetRefused(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, want string }{
		{"datapage_v1-corrupt-checksum.parquet", `column "a" (1): reading rows from 1: crc32 checksum mismatch`},
		{"rle-dict-uncompressed-corrupt-checksum.parquet", `column "long_field" (1): reading rows from 1: crc32 checksum mismatch`},
		{"nation.dict-malformed.parquet", `column "name" (2): reading rows from 1:`},
		{"list_columns.parquet", `column "utf8_list" (4): a list of STRING, not of numbers`},
		{"nulls.snappy.parquet", `column "b_struct" (1): a nested column (a group), not a table column`},
		{"datapage_v2.snappy.parquet", `column "e" (5): row 5: a list of 2 values, the first row's has 3`},
		{"hadoop_lz4_compressed.parquet", `column "c0" (1): compressed with the deprecated Hadoop LZ4 codec`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := testdata.File(t, "parquet-interop/"+tc.file)
			s, err := OpenParquet(path, ParquetOptions{})
			if err == nil {
				err = s.Scan(context.Background(), Wants(len(s.Columns()), Auto), func(*Block) error { return nil })
				s.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			var de *Error
			if !errors.As(err, &de) || de.File != path {
				t.Errorf("error %T %v does not name the file", err, err)
			}
			if want := path + ": " + tc.want; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q\nwant %q…", err, want)
			}
		})
	}
}

// TestParquetAdultMatchesCSV reads the adult files written by DuckDB and
// the CSV files they were written from, cell by cell, as text and as
// numbers: a null is the CSV's "?".
func TestParquetAdultMatchesCSV(t *testing.T) {
	t.Parallel()
	for _, part := range []string{"train", "test"} {
		t.Run(part, func(t *testing.T) {
			t.Parallel()
			pq, err := OpenParquet(testdata.File(t, "parquet-interop/adult_"+part+".duckdb.parquet"), ParquetOptions{BlockRows: 5000})
			if err != nil {
				t.Fatal(err)
			}
			defer pq.Close()
			cs, err := OpenCSV(testdata.File(t, "adult/adult_"+part+".csv.gz"), CSVOptions{ChunkSize: 300 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for _, w := range []ColumnWant{Text, Auto} {
				a, err := scanSource(t, cs, Wants(len(cs.Columns()), w))
				if err != nil {
					t.Fatal(err)
				}
				b, err := scanSource(t, pq, Wants(len(pq.Columns()), w))
				if err != nil {
					t.Fatal(err)
				}
				if len(a.cells) != len(b.cells) || int64(len(b.cells)) != pq.Rows() {
					t.Fatalf("%d CSV rows, %d Parquet rows", len(a.cells), len(b.cells))
				}
				pos := map[string]int{}
				for i, n := range b.header {
					pos[n] = i
				}
				nulls := 0
				for c, name := range a.header {
					pc, ok := pos[name]
					if !ok {
						t.Fatalf("no column %q in the Parquet file", name)
					}
					for r := range a.cells {
						x, y := a.cells[r][c], b.cells[r][pc]
						if x != y {
							t.Fatalf("%v: row %d column %q: CSV %q, Parquet %q", w, r, name, x, y)
						}
						if w == Auto && (a.isNum[r][c] != b.isNum[r][pc] || a.isNum[r][c] && a.nums[r][c] != b.nums[r][pc]) {
							t.Fatalf("row %d column %q: CSV %v, Parquet %v", r, name, a.nums[r][c], b.nums[r][pc])
						}
						if x == "?" {
							nulls++
						}
					}
				}
				if nulls == 0 {
					t.Error("no missing values compared")
				}
			}
		})
	}
}

// TestParquetReadRowGroup reads row groups in any order, each as the
// blocks a scan delivers for it, with its first row and row count.
func TestParquetReadRowGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var text strings.Builder
	text.WriteString("id,x,name\n")
	for i := range 2500 {
		fmt.Fprintf(&text, "%d,%g,n%d\n", i, float64(i)/7, i%13)
	}
	csvPath := filepath.Join(dir, "g.csv")
	if err := os.WriteFile(csvPath, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(csvPath, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pqPath := filepath.Join(dir, "g.parquet")
	writeParquetFile(t, pqPath, src, ParquetWriteOptions{RowGroupRows: 1000})
	// Blocks of 300 rows: a scan cuts each row group in several.
	pq, err := OpenParquet(pqPath, ParquetOptions{BlockRows: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	want := []ColumnWant{Auto, Auto, Text}
	scanned := collectBlocks(t, pq, want)
	if pq.RowGroups() != 3 {
		t.Fatalf("%d row groups, want 3", pq.RowGroups())
	}
	for _, i := range []int{2, 0, 1} {
		b, err := pq.ReadRowGroup(context.Background(), i, want)
		if err != nil {
			t.Fatal(err)
		}
		if b.Row != int64(1000*i) || int64(b.N) != pq.RowGroupRows(i) || b.N != []int{1000, 1000, 500}[i] {
			t.Fatalf("row group %d: rows %d.. (%d), RowGroupRows %d", i, b.Row, b.N, pq.RowGroupRows(i))
		}
		for r := range b.N {
			row := b.Row + int64(r)
			j := 0
			for scanned[j].Row+int64(scanned[j].N) <= row {
				j++
			}
			sb := scanned[j]
			k := int(row - sb.Row)
			for c := range want {
				if got, w := b.Cols[c].Text(r), sb.Cols[c].Text(k); got != w {
					t.Fatalf("row group %d, row %d, column %d: %q, the scan gives %q", i, row, c, got, w)
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pq.ReadRowGroup(ctx, 0, want); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

// writeParquetFile writes src to a new Parquet file at path.
func writeParquetFile(t testing.TB, path string, src Source, opts ParquetWriteOptions) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteParquet(context.Background(), f, src, opts); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

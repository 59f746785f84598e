package pipeline

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
)

// ConvertOptions tune Convert's Parquet output.
type ConvertOptions struct {
	// RowGroupRows is the number of rows of a row group (0: 131,072).
	RowGroupRows int
	// Zstd compresses with Zstandard instead of Snappy.
	Zstd bool
}

// outputFormat is the format an output file's name asks for: "parquet"
// (.parquet, .pq), "csv" or "csv.gz".
func outputFormat(path string) (string, error) {
	name := strings.ToLower(path)
	switch {
	case strings.HasSuffix(name, ".parquet"), strings.HasSuffix(name, ".pq"):
		return "parquet", nil
	case strings.HasSuffix(name, ".csv"):
		return "csv", nil
	case strings.HasSuffix(name, ".csv.gz"):
		return "csv.gz", nil
	}
	return "", optionErrorf("out", path, "the name says no format: want .parquet (or .pq), .csv or .csv.gz")
}

// Convert writes a data file (with its feature files joined) in the
// format out's name asks for: Parquet with typed columns (INT64 or DOUBLE
// where every value is a number, else dictionary-encoded strings; missing
// values as nulls), compressed, in row groups; or CSV, plain or gzip. It
// reads the input in passes of blocks and never holds it, and writes out
// atomically. It returns the number of rows written.
func Convert(ctx context.Context, in DataInput, out string, opts ConvertOptions) (int64, error) {
	format, err := outputFormat(out)
	if err != nil {
		return 0, err
	}
	inputs := []Input{{Option: "in", Path: in.Path}}
	for _, f := range in.Features {
		inputs = append(inputs, Input{Option: "features", Path: f.Path})
	}
	if err := CheckOutput("out", out, inputs...); err != nil {
		return 0, err
	}
	src, err := in.open()
	if err != nil {
		return 0, err
	}
	defer src.Close()
	var inner error
	err = atomicfile.Write(out, func(w io.Writer) error {
		switch format {
		case "parquet":
			inner = data.WriteParquet(ctx, w, src, data.ParquetWriteOptions{RowGroupRows: opts.RowGroupRows, Zstd: opts.Zstd})
		case "csv":
			inner = data.WriteCSV(ctx, w, src)
		default:
			zw := gzip.NewWriter(w)
			if inner = data.WriteCSV(ctx, zw, src); inner == nil {
				inner = zw.Close()
			}
		}
		return inner
	})
	if inner != nil {
		return 0, inner
	}
	if err != nil {
		return 0, err
	}
	return countRows(ctx, src)
}

// Inspection is what Inspect finds in a data file. It marshals to JSON
// with stable field names.
type Inspection struct {
	Name string `json:"name"`
	// Format is "parquet" or "text" (CSV or TSV, plain or gzip); Bytes is
	// the file's size.
	Format  string       `json:"format"`
	Bytes   int64        `json:"bytes"`
	Rows    int64        `json:"rows"`
	Columns []ColumnInfo `json:"columns"`
}

// ColumnInfo describes one column of a data file (see data.ColumnSummary).
type ColumnInfo struct {
	Name string `json:"name"`
	// Type is the column's type as the file stores it ("text" for every
	// column of a text file), and Kind what training would make of it.
	Type string `json:"type"`
	Kind string `json:"kind"`
	// Missing, Numbers and Texts count the cells by what they hold.
	Missing int64 `json:"missing"`
	Numbers int64 `json:"numbers"`
	Texts   int64 `json:"texts"`
	// Distinct counts the distinct values, exactly when DistinctExact.
	Distinct      int64 `json:"distinct"`
	DistinctExact bool  `json:"distinct_exact"`
	// Min, Max and Mean are those of the numbers, nil without numbers.
	Min  *float64 `json:"min"`
	Max  *float64 `json:"max"`
	Mean *float64 `json:"mean"`
}

// Inspect summarises a data file (with its feature files joined) in one
// pass without loading it: rows, columns, each column's type as the file
// stores it, the kind training with these options would give it
// (numeric, categorical, embedded, label, group or ignored), its missing
// values and distinct values (counted exactly up to 10,000, estimated
// above), and the range and mean of its numbers. The options' tasks,
// group column, ignored and categorical columns and embedding options
// are used; none is needed.
func Inspect(ctx context.Context, in DataInput, o Options) (*Inspection, error) {
	opts, err := o.dataOptions()
	if err != nil {
		return nil, err
	}
	src, err := in.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := checkColumns(src, o, opts); err != nil {
		return nil, err
	}
	sum, err := data.Inspect(ctx, src, data.InspectOptions{Options: opts})
	if err != nil {
		return nil, err
	}
	ins := &Inspection{Name: sum.Name, Format: "text", Rows: sum.Rows, Columns: []ColumnInfo{}}
	for _, c := range sum.Columns {
		ins.Columns = append(ins.Columns, ColumnInfo{Name: c.Name, Type: c.Type, Kind: c.Kind, Missing: c.Missing, Numbers: c.Numbers,
			Texts: c.Texts, Distinct: c.Distinct, DistinctExact: c.DistinctExact, Min: finiteOrNil(c.Min), Max: finiteOrNil(c.Max), Mean: finiteOrNil(c.Mean)})
	}
	if isParquet(in.Path) {
		ins.Format = "parquet"
	}
	if st, err := os.Stat(in.Path); err == nil {
		ins.Bytes = st.Size()
	}
	return ins, nil
}

// Text formats the inspection as a table for people, in the manner of
// pandas' DataFrame.info().
func (ins *Inspection) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s, %d rows, %d columns, %s\n", filepath.Base(ins.Name), ins.Format, ins.Rows, len(ins.Columns), sizeText(ins.Bytes))
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tcolumn\ttype\tkind\tmissing\tdistinct\tmin\tmax\tmean\t")
	for i, c := range ins.Columns {
		distinct := fmt.Sprint(c.Distinct)
		if !c.DistinctExact {
			distinct = "~" + distinct
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", i, c.Name, c.Type, c.Kind, c.Missing, distinct, num(c.Min), num(c.Max), num(c.Mean))
	}
	tw.Flush()
	kinds := map[string]int{}
	var order []string
	for _, c := range ins.Columns {
		if kinds[c.Kind] == 0 {
			order = append(order, c.Kind)
		}
		kinds[c.Kind]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	fmt.Fprintf(&b, "kinds: %s\n", strings.Join(parts, ", "))
	return b.String()
}

// finiteOrNil returns v, or nil when it is not a finite number.
func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// num formats a statistic, "-" when undefined.
func num(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.6g", *v)
}

// sizeText writes a byte count in binary units.
func sizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[u-1])
}

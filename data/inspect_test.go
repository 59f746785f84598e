package data

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	content := "a,b,c,y,g,skip\n1,x,7,0,s1,q\n2.5,?,007,1,s2,q\n,y,inf,1,s1,q\n-4,x,8,NA,s3,q\n"
	src := newMemSource(t, "i.csv", content, CSVOptions{ChunkSize: 1})
	sum, err := Inspect(context.Background(), src, InspectOptions{Options: Options{
		Tasks: specs(t, "y:binary"), GroupColumn: "g", Ignore: []string{"skip"}, Categorical: []string{"c"}}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Name != "i.csv" || sum.Rows != 4 || len(sum.Columns) != 6 {
		t.Fatalf("summary %+v", sum)
	}
	nan := math.NaN()
	want := []ColumnSummary{
		{Name: "a", Type: "text", Kind: "numeric", Missing: 1, Numbers: 3, Distinct: 3, DistinctExact: true, Min: -4, Max: 2.5, Mean: -0.5 / 3},
		{Name: "b", Type: "text", Kind: "categorical", Missing: 1, Texts: 3, Distinct: 2, DistinctExact: true, Min: nan, Max: nan, Mean: nan},
		// "007" and "7" are one number; "inf" is not a finite number.
		{Name: "c", Type: "text", Kind: "categorical", Numbers: 3, Texts: 1, Distinct: 3, DistinctExact: true, Min: 7, Max: 8, Mean: 22.0 / 3},
		{Name: "y", Type: "text", Kind: "label", Missing: 1, Numbers: 3, Distinct: 2, DistinctExact: true, Min: 0, Max: 1, Mean: 2.0 / 3},
		{Name: "g", Type: "text", Kind: "group", Texts: 4, Distinct: 3, DistinctExact: true, Min: nan, Max: nan, Mean: nan},
		{Name: "skip", Type: "text", Kind: "ignored", Texts: 4, Distinct: 1, DistinctExact: true, Min: nan, Max: nan, Mean: nan},
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-12 }
	for i, w := range want {
		g := sum.Columns[i]
		if g.Name != w.Name || g.Type != w.Type || g.Kind != w.Kind || g.Missing != w.Missing || g.Numbers != w.Numbers ||
			g.Texts != w.Texts || g.Distinct != w.Distinct || g.DistinctExact != w.DistinctExact ||
			!same(g.Min, w.Min) || !same(g.Max, w.Max) || !same(g.Mean, w.Mean) {
			t.Errorf("column %d:\n%+v\nwant\n%+v", i, g, w)
		}
	}
	_, err = Inspect(context.Background(), src, InspectOptions{Options: Options{Ignore: []string{"zz"}}})
	wantError(t, err, `i.csv:1: ignore pattern "zz" matches no column`)
}

func TestInspectDistinctEstimate(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,n,low\n")
	const rows = 60_000
	for i := range rows {
		fmt.Fprintf(&b, "id%d,%d,%d\n", i, i*7, i%50)
	}
	src := newMemSource(t, "d.csv", b.String(), CSVOptions{})
	sum, err := Inspect(context.Background(), src, InspectOptions{ExactDistinct: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sum.Columns[:2] {
		if c.DistinctExact || math.Abs(float64(c.Distinct)/rows-1) > 0.03 {
			t.Errorf("%s: %d distinct (exact %v), want about %d", c.Name, c.Distinct, c.DistinctExact, rows)
		}
	}
	if c := sum.Columns[0]; c.Kind != "embedded" {
		t.Errorf("id is %s", c.Kind)
	}
	if c := sum.Columns[2]; !c.DistinctExact || c.Distinct != 50 || c.Kind != "numeric" {
		t.Errorf("low: %+v", c)
	}
	// The estimate alone, on few values: linear counting is exact enough.
	var h hyperLogLog
	for i := range 100 {
		h.add(hashText(fmt.Sprint(i)))
	}
	if e := h.estimate(); math.Abs(e-100) > 2 {
		t.Errorf("estimate of 100 values: %v", e)
	}
}

func TestInspectParquetMatchesCSV(t *testing.T) {
	t.Parallel()
	dir := sharedData(t)
	opts := InspectOptions{Options: Options{Tasks: specs(t, "income_gt_50k:binary")}}
	csv, err := OpenCSV(filepath.Join(dir, "adult/adult_train.csv.gz"), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer csv.Close()
	pq, err := OpenParquet(filepath.Join(dir, "parquet-interop/adult_train.duckdb.parquet"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	a, err := Inspect(context.Background(), csv, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Inspect(context.Background(), pq, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows != 32561 || b.Rows != a.Rows {
		t.Fatalf("rows %d and %d", a.Rows, b.Rows)
	}
	for i, ca := range a.Columns {
		cb := b.Columns[i]
		cb.Type, ca.Type = "", ""
		if fmt.Sprint(ca) != fmt.Sprint(cb) {
			t.Errorf("column %d:\nCSV     %+v\nParquet %+v", i, ca, cb)
		}
	}
	kinds := map[string]string{}
	for _, c := range b.Columns {
		kinds[c.Name] = c.Type + " " + c.Kind
	}
	if kinds["age"] != "INT64 numeric" || kinds["workclass"] != "STRING categorical" || kinds["income_gt_50k"] != "INT64 label" {
		t.Errorf("types and kinds %v", kinds)
	}
	for _, c := range a.Columns {
		if c.Name == "workclass" && (c.Distinct != 8 || c.Missing != 1836) {
			t.Errorf("workclass: %d values, %d missing", c.Distinct, c.Missing)
		}
	}
}

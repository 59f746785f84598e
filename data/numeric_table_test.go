package data

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestNumericTablePathMatches: Fit and Encode, the table path, learn and
// encode every numeric encoding as FitSource and EncodeSource do (sameFit
// and sameEncode compare them number for number), on small files with
// missing values, ties and a constant column, and on the shared data.
func TestNumericTablePathMatches(t *testing.T) {
	t.Parallel()
	content := "a,b,c,y\n1,0,5,x\nNA,0,5,y\n3,0,5,x\n10,1,5,y\n2.5,0,5,x\n-4,0,5,y\n7,2,5,x\n"
	dir := sharedData(t)
	for _, m := range NumericMethods {
		enc := NumericEncoding{Method: m}
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			opts := Options{Tasks: specs(t, "y:binary"), Impute: "mean", Numeric: enc}
			res := sameFit(t, "n.csv", content, opts)
			sameEncode(t, res.Schema, "n.csv", content, true)
			sameEncode(t, res.Schema, "m.csv", "c,b,a,y\n5,0,-100,x\n6,9,?,y\n", true)
			for _, sc := range sharedFitCases[:3] {
				path := filepath.Join(dir, sc.file)
				tab, err := ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				opts := Options{Tasks: specs(t, sc.tasks...), GroupColumn: sc.group, Numeric: enc}
				want, _, err := Fit(tab, opts)
				if err != nil {
					t.Fatal(err)
				}
				src, err := OpenCSV(path, CSVOptions{ChunkSize: 1 << 14, Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				res, err := FitSource(t.Context(), src, opts)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := withoutOffsets(res.Schema)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: FitSource and Fit differ", sc.file)
				}
				wantEnc, err := want.Encode(tab, true)
				if err != nil {
					t.Fatal(err)
				}
				parts, _, err := res.Schema.EncodeSource(t.Context(), src, EncodeOptions{Targets: true})
				src.Close()
				if err != nil {
					t.Fatal(err)
				}
				if !sameBits(parts[0].X, wantEnc.X) {
					t.Fatalf("%s: EncodeSource and Encode differ", sc.file)
				}
			}
		})
	}
}

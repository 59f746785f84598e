package data

import (
	"bytes"
	"strings"
	"testing"
)

func TestWritePredictions(t *testing.T) {
	t.Parallel()
	tab := table(t, "in.csv", "id,x,note\n7,1,\"a,b\"\n8,2,c\n")
	tests := []struct {
		name  string
		keep  []string
		preds []Prediction
		want  string
	}{
		{
			name: "multiclass, binary as N values, regression",
			keep: []string{"id", "note"},
			preds: []Prediction{
				{Name: "m", Classes: []string{"a", "b", "c"}, Probs: []float64{0.2, 0.5, 0.3, 0.4, 0.4, 0.2}},
				{Name: "bin", Classes: []string{"no", "yes"}, Probs: []float64{0.5, 0.25}},
				{Name: "r", Values: []float64{1.5, float64(float32(0.1))}},
			},
			want: "id,note,m,m:p(a),m:p(b),m:p(c),bin,bin:p(no),bin:p(yes),r\n" +
				"7,\"a,b\",b,0.2,0.5,0.3,yes,0.5,0.5,1.5\n" +
				"8,c,a,0.4,0.4,0.2,no,0.75,0.25,0.1\n",
		},
		{
			name: "binary as N×2, no kept columns",
			preds: []Prediction{
				{Name: "income", Classes: []string{"0", "1"}, Probs: []float64{0.5, 0.5, 0.9, 0.1}},
			},
			want: "income,income:p(0),income:p(1)\n1,0.5,0.5\n0,0.9,0.1\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := WritePredictions(&b, tab, tc.keep, tc.preds); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
			// The output reads back as a table.
			if _, err := Read(&b, "out.csv"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestWritePredictionsErrors(t *testing.T) {
	t.Parallel()
	tab := table(t, "in.csv", "id,y\n7,1\n8,2\n")
	tests := []struct {
		name  string
		keep  []string
		preds []Prediction
		want  string
	}{
		{"kept column missing", []string{"key"}, nil, `in.csv:1: column "key": column to keep is missing from the file`},
		{"kept column clashes", []string{"y"}, []Prediction{{Name: "y", Values: []float64{1, 2}}}, `predictions: output column "y" would appear twice`},
		{"too few values", nil, []Prediction{{Name: "r", Values: []float64{1}}}, `prediction "r": 1 values for 2 rows`},
		{"wrong probability count", nil, []Prediction{{Name: "m", Classes: []string{"a", "b", "c"}, Probs: []float64{1, 2, 3}}}, `prediction "m": 3 probabilities for 2 rows and 3 classes`},
	}
	for _, tc := range tests {
		err := WritePredictions(&bytes.Buffer{}, tab, tc.keep, tc.preds)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

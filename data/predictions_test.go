package data

import (
	"bytes"
	"context"
	"math"
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

// Predictions written block by block, as EncodeBlocks hands the rows out,
// are the file WritePredictions writes from the whole table.
func TestPredictionWriterBlockByBlock(t *testing.T) {
	t.Parallel()
	s := fitted(t)
	content := "id,num,cat,g,note\n7,1,a,s1,\"x,y\"\n8,2,b,s2,\"two\nlines\"\n9,6,?,s1,\n10,3,b,s10,z\n"
	heads := []Prediction{
		{Name: "y_hat", Classes: s.Targets[0].Classes},
		{Name: "reg_hat"},
		{Name: "m", Classes: []string{"p", "q", "r"}},
	}
	// A made-up model: predictions from the encoded row.
	predict := func(e *Encoded) []Prediction {
		out := []Prediction{{Name: "y_hat", Classes: heads[0].Classes}, {Name: "reg_hat"}, {Name: "m", Classes: heads[2].Classes}}
		for i := range e.N {
			x := float64(e.X[i*e.D])
			out[0].Probs = append(out[0].Probs, 1/(1+math.Exp(-x)))
			out[1].Values = append(out[1].Values, 10*x)
			out[2].Probs = append(out[2].Probs, 0.2, 0.3+0.1*float64(e.Groups[i]), 0.5-0.1*float64(e.Groups[i]))
		}
		return out
	}
	tab := table(t, "in.csv", content)
	enc, err := s.Encode(tab, false)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WritePredictions(&want, tab, []string{"id", "note", "num"}, predict(enc.Encoded)); err != nil {
		t.Fatal(err)
	}

	var got bytes.Buffer
	pw, err := NewPredictionWriter(&got, []string{"id", "note", "num"}, heads)
	if err != nil {
		t.Fatal(err)
	}
	src := newMemSource(t, "in.csv", content, CSVOptions{ChunkSize: 1})
	_, err = s.EncodeBlocks(context.Background(), src, EncodeOptions{Keep: []string{"id", "note", "num"}}, func(eb *EncodedBlock) error {
		return pw.Write(eb.N, eb.Keep, predict(&eb.Encoded))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("block by block:\n%s\nwhole table:\n%s", got.String(), want.String())
	}
	if err := pw.Write(1, make([]Column, 3), []Prediction{{}, {Values: []float64{1, 2}}, {}}); err == nil {
		t.Error("wrong number of values accepted")
	}
}

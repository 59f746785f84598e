package data

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

// sharedData returns the folder of the shared test data sets, or skips.
func sharedData(t *testing.T) string { return testdata.Dir(t) }

// readShared reads a shared data file.
func readShared(t *testing.T, rel string) *Table {
	t.Helper()
	tab, err := ReadFile(filepath.Join(sharedData(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// positiveRate is the mean of a 0/1 label column, skipping NaN.
func positiveRate(labels []float32) float64 {
	var n, pos float64
	for _, v := range labels {
		if !math.IsNaN(float64(v)) {
			n++
			pos += float64(v)
		}
	}
	return pos / n
}

// columnMoments returns the mean and population standard deviation of
// encoded column j.
func columnMoments(e *Encoded, j int) (mean, std float64) {
	for i := 0; i < e.N; i++ {
		mean += float64(e.X[i*e.D+j])
	}
	mean /= float64(e.N)
	for i := 0; i < e.N; i++ {
		d := float64(e.X[i*e.D+j]) - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(e.N))
}

func TestAdult(t *testing.T) {
	t.Parallel()
	train := readShared(t, "adult/adult_train.csv.gz")
	if len(train.Rows) != 32561 {
		t.Fatalf("%d training rows", len(train.Rows))
	}
	s, warnings, err := Fit(train, Options{Tasks: specs(t, "income_gt_50k:binary", "marital_status:multiclass:0.5", "relationship:multiclass:0.5")})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	kinds := map[string]FeatureKind{}
	for _, f := range s.Features {
		kinds[f.Name] = f.Kind
	}
	want := map[string]FeatureKind{
		"age": Numeric, "fnlwgt": Numeric, "education_num": Numeric, "capital_gain": Numeric, "capital_loss": Numeric, "hours_per_week": Numeric,
		"workclass": Categorical, "education": Categorical, "occupation": Categorical, "race": Categorical, "sex": Categorical, "native_country": Categorical,
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("feature kinds %v", kinds)
	}
	// 6 numeric + 9 workclass + 16 education + 15 occupation + 5 race +
	// 2 sex + 42 native_country.
	if s.Dim() != 95 {
		t.Errorf("Dim = %d, want 95", s.Dim())
	}
	for _, f := range s.Features {
		if f.Name == "workclass" && f.Categories[0] != "?" {
			t.Errorf("workclass categories %q: want ? first", f.Categories)
		}
		if f.Name == "age" && (math.Abs(f.Mean-38.58164675532078) > 1e-9 || math.Abs(f.Scale-13.640223092304277) > 1e-9) {
			t.Errorf("age mean %v scale %v", f.Mean, f.Scale)
		}
	}
	if got := s.Targets[0]; got.Classes[1] != "1" || got.Positive != "1" || got.Weight != 1 {
		t.Errorf("income target %+v", got)
	}
	if got := len(s.Targets[1].Classes); got != 7 {
		t.Errorf("marital_status has %d classes", got)
	}
	if got := len(s.Targets[2].Classes); got != 6 || s.Targets[2].Weight != 0.5 {
		t.Errorf("relationship has %d classes, weight %v", got, s.Targets[2].Weight)
	}

	enc, err := s.Encode(train, true)
	if err != nil {
		t.Fatal(err)
	}
	if rate := positiveRate(enc.Labels[0]); math.Abs(rate-0.2408) > 0.001 {
		t.Errorf("income positive rate %.4f, want about 0.24", rate)
	}
	// Standardised numeric columns have mean 0 and standard deviation 1;
	// each categorical block has exactly one 1 per row.
	if m, sd := columnMoments(enc.Encoded, 0); math.Abs(m) > 1e-4 || math.Abs(sd-1) > 1e-4 {
		t.Errorf("age encodes with mean %v sd %v", m, sd)
	}
	for i := 0; i < enc.N; i++ {
		var sum float32
		for _, v := range enc.X[i*enc.D : (i+1)*enc.D] {
			if v == 1 {
				sum++
			}
		}
		if sum < 6 {
			t.Fatalf("row %d has %v ones, want at least one per categorical column", i, sum)
		}
	}

	// A model file stores the schema as JSON; the schema read back encodes
	// the test file.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var stored Schema
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if err := stored.Validate(); err != nil {
		t.Fatal(err)
	}
	test := readShared(t, "adult/adult_test.csv.gz")
	encTest, err := stored.Encode(test, true)
	if err != nil {
		t.Fatal(err)
	}
	if encTest.N != 16281 || encTest.D != 95 || len(encTest.Warnings) != 0 {
		t.Errorf("test: N %d D %d warnings %q", encTest.N, encTest.D, encTest.Warnings)
	}
}

func TestEmotions(t *testing.T) {
	t.Parallel()
	labels := []string{"amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still", "sad-lonely", "angry-aggresive"}
	var ts []string
	for _, l := range labels {
		ts = append(ts, l+":binary")
	}
	train := readShared(t, "emotions/emotions_train.csv")
	s, warnings, err := Fit(train, Options{Tasks: specs(t, ts...)})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	if len(s.Features) != 72 || s.Dim() != 72 {
		t.Errorf("%d features, Dim %d; want 72", len(s.Features), s.Dim())
	}
	for _, f := range s.Features {
		if f.Kind != Numeric {
			t.Errorf("feature %q is %v", f.Name, f.Kind)
		}
	}
	for i, tg := range s.Targets {
		if tg.Name != labels[i] || !reflect.DeepEqual(tg.Classes, []string{"0", "1"}) {
			t.Errorf("target %d: %+v", i, tg)
		}
	}
	test := readShared(t, "emotions/emotions_test.csv")
	enc, err := s.Encode(test, true)
	if err != nil {
		t.Fatal(err)
	}
	if enc.N != 202 || len(enc.Labels) != 6 {
		t.Errorf("test N %d, %d label columns", enc.N, len(enc.Labels))
	}
	trainEnc, err := s.Encode(train, true)
	if err != nil {
		t.Fatal(err)
	}
	if rate := positiveRate(trainEnc.Labels[2]); math.Abs(rate-168.0/391) > 1e-6 {
		t.Errorf("relaxing-calm rate %v", rate)
	}
}

func TestSchool(t *testing.T) {
	t.Parallel()
	tab := readShared(t, "school/school.csv")
	s, warnings, err := Fit(tab, Options{Tasks: specs(t, "exam_score:regression"), GroupColumn: "school_id"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	if len(s.Features) != 27 || s.Dim() != 27 {
		t.Errorf("%d features, Dim %d; want 27", len(s.Features), s.Dim())
	}
	if len(s.Groups) != 139 || s.Groups[0] != "1" || s.Groups[9] != "10" || s.Groups[138] != "139" {
		t.Errorf("%d groups, numeric order expected: %q...", len(s.Groups), s.Groups[:10])
	}
	enc, err := s.Encode(tab, true)
	if err != nil {
		t.Fatal(err)
	}
	if enc.N != 15362 || len(enc.Groups) != enc.N || enc.Groups[0] != 0 || enc.Groups[enc.N-1] != 138 {
		t.Errorf("N %d groups %d first %d last %d", enc.N, len(enc.Groups), enc.Groups[0], enc.Groups[enc.N-1])
	}
	var mean float64
	for _, v := range enc.Labels[0] {
		mean += float64(v)
	}
	if mean /= float64(enc.N); math.Abs(mean-20.6) > 0.1 {
		t.Errorf("mean exam score %v, want about 20.6", mean)
	}
	if name := s.HeadName(0, 4); name != "exam_score@5" {
		t.Errorf("HeadName = %q", name)
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	train := readShared(t, "seed_example/seed_train.csv")
	s, _, err := Fit(train, Options{Tasks: specs(t, "y:multiclass")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Dim() != 20 || !reflect.DeepEqual(s.Targets[0].Classes, []string{"0", "1", "2"}) {
		t.Errorf("Dim %d classes %q", s.Dim(), s.Targets[0].Classes)
	}
	test := readShared(t, "seed_example/seed_test.csv")
	enc, err := s.Encode(test, true)
	if err != nil {
		t.Fatal(err)
	}
	if enc.N != 200 {
		t.Errorf("test N %d", enc.N)
	}
	// Prediction on the test file keeps a column and writes one
	// probability per class.
	probs := make([]float64, 3*enc.N)
	for i := range enc.N {
		probs[3*i+int(enc.Labels[0][i])] = 1
	}
	var b strings.Builder
	if err := WritePredictions(&b, test, []string{"y"}, []Prediction{{Name: "y_hat", Classes: s.Targets[0].Classes, Probs: probs}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 201 || lines[0] != "y,y_hat,y_hat:p(0),y_hat:p(1),y_hat:p(2)" {
		t.Fatalf("%d lines, header %q", len(lines), lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if f[0] != f[1] {
			t.Fatalf("line %q: prediction differs from the kept label", l)
		}
	}
}

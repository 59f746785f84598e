package data

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseTaskSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want TaskSpec
	}{
		{"y:multiclass", TaskSpec{"y", Multiclass, 1}},
		{"income:binary", TaskSpec{"income", Binary, 1}},
		{"x:regression:0.5", TaskSpec{"x", Regression, 0.5}},
		{"a:b:binary", TaskSpec{"a:b", Binary, 1}},
		{"a:b:binary:2", TaskSpec{"a:b", Binary, 2}},
		{"a:regression:binary", TaskSpec{"a:regression", Binary, 1}},
		{"a:binary:regression:3", TaskSpec{"a:binary", Regression, 3}},
		{"2:binary", TaskSpec{"2", Binary, 1}},
		{"Class*:Binary", TaskSpec{"Class*", Binary, 1}},
		{" y : MULTICLASS : 1e1 ", TaskSpec{"y", Multiclass, 10}},
		{"a::binary", TaskSpec{"a:", Binary, 1}},
		{"y:binary:1", TaskSpec{"y", Binary, 1}},
	}
	for _, tc := range tests {
		got, err := ParseTaskSpec(tc.in)
		if err != nil {
			t.Errorf("ParseTaskSpec(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseTaskSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseTaskSpecErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"y", "no task type"},
		{"", "no task type"},
		{"y:classify", `"classify" is neither a task type nor a weight after one`},
		{"y:binary:0", `weight "0" is not a positive finite number`},
		{"y:binary:-1", `weight "-1" is not a positive finite number`},
		{"y:binary:inf", `weight "inf" is not a positive finite number`},
		{"y:binary:NaN", `weight "NaN" is not a positive finite number`},
		{"y:binary:1e999", `weight "1e999" is not a positive finite number`},
		{"y:binary:two", `weight "two" is not a positive finite number`},
		{":binary", "empty column pattern"},
		{"  :binary:2", "empty column pattern"},
		{"binary", "no task type"},
	}
	for _, tc := range tests {
		_, err := ParseTaskSpec(tc.in)
		if err == nil {
			t.Errorf("ParseTaskSpec(%q): no error, want %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "PATTERN:TYPE[:WEIGHT]") {
			t.Errorf("ParseTaskSpec(%q) error %q, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestTaskTypeText(t *testing.T) {
	t.Parallel()
	for _, typ := range []TaskType{Multiclass, Binary, Regression} {
		b, err := json.Marshal(typ)
		if err != nil {
			t.Fatal(err)
		}
		var back TaskType
		if err := json.Unmarshal(b, &back); err != nil || back != typ {
			t.Errorf("%v: JSON %s reads back as %v, %v", typ, b, back, err)
		}
	}
	if _, err := json.Marshal(TaskType(7)); err == nil {
		t.Error("marshalling TaskType(7) did not fail")
	}
	if TaskType(7).String() != "TaskType(7)" {
		t.Errorf("String = %q", TaskType(7).String())
	}
	var typ TaskType
	if err := json.Unmarshal([]byte(`"ordinal"`), &typ); err == nil {
		t.Error("unmarshalling an unknown type did not fail")
	}
}

func FuzzParseTaskSpec(f *testing.F) {
	for _, s := range []string{"y:binary", "a:b:multiclass:2", "x:regression:0.5", "Class*:binary", "::", "a:binary:1e-300", "y:binary:0x1p1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseTaskSpec(s)
		if err != nil {
			return
		}
		if spec.Pattern == "" || strings.TrimSpace(spec.Pattern) != spec.Pattern {
			t.Fatalf("%q: pattern %q", s, spec.Pattern)
		}
		if !(spec.Weight > 0) || math.IsInf(spec.Weight, 0) {
			t.Fatalf("%q: weight %v", s, spec.Weight)
		}
		if err := spec.check(); err != nil {
			t.Fatalf("%q: parsed spec fails check: %v", s, err)
		}
		back, err := ParseTaskSpec(spec.String())
		if err != nil {
			t.Fatalf("%q formats as %q, which does not parse: %v", s, spec.String(), err)
		}
		if back != spec {
			t.Fatalf("%q: %+v formats as %q and reads back as %+v", s, spec, spec.String(), back)
		}
	})
}

package mtl

import (
	"slices"
	"strings"
	"testing"
)

// TestNewModelFromStats checks that a model started from the statistics
// of the training labels is the model NewModel starts from the labels
// themselves, parameter for parameter, that NumParams counts its
// parameters, and that statistics that do not fit the tasks are refused.
func TestNewModelFromStats(t *testing.T) {
	t.Parallel()
	specs := archSpecs()
	specs["shared"] = gradSpec([]int{8}, 2)
	for name, spec := range specs {
		data, _ := archData(spec, 5)
		want, err := NewModel(spec, data, 7)
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewModelFromStats(spec, data.LabelStats(spec), 7)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Params, want.Params) {
			t.Errorf("%s: the model from label statistics differs", name)
		}
		for i, task := range got.Spec.Tasks {
			if task.Mean != want.Spec.Tasks[i].Mean || task.Std != want.Spec.Tasks[i].Std {
				t.Errorf("%s: task %q standardised by %g, %g; want %g, %g", name, task.Name, task.Mean, task.Std, want.Spec.Tasks[i].Mean, want.Spec.Tasks[i].Std)
			}
		}
		if spec.NumParams() != want.NumParams() {
			t.Errorf("%s: NumParams %d, the model has %d", name, spec.NumParams(), want.NumParams())
		}
	}
	spec := gradSpec([]int{8}, 2)
	data, _ := archData(spec, 5)
	stats := data.LabelStats(spec)
	if c := stats[1].Counts; len(c) != 2 || c[0]+c[1] == 0 || c[1] == 0 {
		t.Fatalf("binary task counts %v", c)
	}
	bad := map[string]func(s []LabelStats) []LabelStats{
		"label statistics for 4 tasks": func(s []LabelStats) []LabelStats { return s[:4] },
		"label counts of 2 classes":    func(s []LabelStats) []LabelStats { s[0].Counts = s[0].Counts[:2]; return s },
		"standard deviation 0":         func(s []LabelStats) []LabelStats { s[2].Std = 0; return s },
		"label count -1":               func(s []LabelStats) []LabelStats { s[1].Counts[0] = -1; return s },
	}
	for want, change := range bad {
		s := data.LabelStats(spec)
		if _, err := NewModelFromStats(spec, change(s), 7); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one saying %q", err, want)
		}
	}
}

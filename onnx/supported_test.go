package onnx

import (
	"errors"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// TestRefusedByName checks that every switch of Supported accepts each
// kind the packages enumerate and refuses one it does not know, with an
// *UnsupportedError that names it.
func TestRefusedByName(t *testing.T) {
	for _, a := range mtl.Archs {
		if err := architectureSupported(a); err != nil {
			t.Errorf("architecture %s: %v", a, err)
		}
	}
	for i := 0; ; i++ {
		a := backend.Activation(i)
		if parsed, err := backend.ParseActivation(a.String()); err != nil || parsed != a {
			break
		}
		if err := activationSupported(a); err != nil {
			t.Errorf("activation %s: %v", a, err)
		}
	}
	for _, k := range []data.FeatureKind{data.Numeric, data.Categorical, data.Embedded} {
		if err := featureSupported(data.Feature{Name: "x", Kind: k, Categories: []string{"a"}, Dim: 2}); err != nil {
			t.Errorf("feature kind %s: %v", k, err)
		}
	}
	for _, tt := range []mtl.TaskType{mtl.Multiclass, mtl.Binary, mtl.Regression} {
		if err := taskSupported(mtl.Task{Name: "y", Type: tt}); err != nil {
			t.Errorf("task type %s: %v", tt, err)
		}
	}
	for _, method := range []string{"", "mean"} {
		if err := imputeSupported(method); err != nil {
			t.Errorf("impute %q: %v", method, err)
		}
	}

	refused := []struct {
		err  error
		want string
	}{
		{architectureSupported("transformer"), "export does not support the transformer architecture yet"},
		{featureSupported(data.Feature{Name: "city", Kind: data.Embedded, Buckets: 64, Dim: 8}),
			`export does not support hashed embedded columns (column "city", 64 buckets: no ONNX operator computes data.HashBucket) yet`},
		{activationSupported(backend.Activation(9)), "export does not support the Activation(9) activation yet"},
		{featureSupported(data.Feature{Name: "text", Kind: data.FeatureKind(7)}), `export does not support FeatureKind(7) features (column "text") yet`},
		{taskSupported(mtl.Task{Name: "rank", Type: mtl.TaskType(5)}), `export does not support TaskType(5) tasks ("rank") yet`},
		{imputeSupported("median"), `export does not support imputing by "median" yet`},
	}
	for _, r := range refused {
		var ue *UnsupportedError
		if !errors.As(r.err, &ue) || r.err.Error() != r.want {
			t.Errorf("got %v, want an *UnsupportedError %q", r.err, r.want)
		}
	}
}

// TestSupportedChecksTheMembers refuses an export without a network and
// one whose network does not fit the preprocessing.
func TestSupportedChecksTheMembers(t *testing.T) {
	s := &data.Schema{
		Version:  data.SchemaVersion,
		Features: []data.Feature{{Name: "x", Kind: data.Numeric, Scale: 1}},
		Targets:  []data.Target{{Name: "y", Type: data.Regression, Weight: 1}},
	}
	spec := mtl.Spec{Inputs: 1, Tasks: []mtl.Task{{Name: "y", Type: mtl.Regression, Classes: 1, Std: 1}}}
	good := &mtl.Model{Spec: spec, Params: make([]float32, 2)}
	if err := Supported(Model{Schema: s, Members: []*mtl.Model{good}}); err != nil {
		t.Fatalf("a fitting model: %v", err)
	}
	if err := Supported(Model{Schema: s}); err == nil {
		t.Error("no member: accepted")
	}
	wrongSpec := spec
	wrongSpec.Tasks = []mtl.Task{{Name: "y", Type: mtl.Binary, Classes: 1}}
	wrong := &mtl.Model{Spec: wrongSpec, Params: make([]float32, 2)}
	err := Supported(Model{Schema: s, Members: []*mtl.Model{good, wrong}})
	if err == nil || !strings.Contains(err.Error(), "member 2") {
		t.Errorf("a binary network for a regression target: %v", err)
	}

	// An embedded column's table must have the preprocessing's shape.
	s.Features = append(s.Features, data.Feature{Name: "city", Kind: data.Embedded, Categories: []string{"a", "b"}, Dim: 2})
	for _, c := range []struct {
		rows, dim int
		ok        bool
	}{{3, 2, true}, {4, 2, false}, {3, 3, false}} {
		spec := spec
		spec.Embeddings = []mtl.Embedding{{Name: "city", Rows: c.rows, Dim: c.dim}}
		m := &mtl.Model{Spec: spec, Params: make([]float32, 2+c.dim+c.rows*c.dim)}
		err := Supported(Model{Schema: s, Members: []*mtl.Model{m}})
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), `embedded column "city"`) {
			t.Errorf("a %d×%d table for a 3×2 one: %v", c.rows, c.dim, err)
		}
	}
}

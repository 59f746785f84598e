package onnx

import (
	"errors"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// UnsupportedError reports a kind of model that Export cannot write yet,
// by name ("the mmoe architecture", "the gelu activation").
type UnsupportedError struct {
	What string
}

func (e *UnsupportedError) Error() string {
	return "export does not support " + e.What + " yet"
}

func unsupported(format string, a ...any) error {
	return &UnsupportedError{What: fmt.Sprintf(format, a...)}
}

// Supported reports whether Export can write m: an *UnsupportedError
// naming the first kind of model, layer, feature or task it cannot write,
// or another error when the members do not fit the schema. The switches
// below list what the graph builder writes; anything new falls to a
// default that refuses it by name.
func Supported(m Model) error {
	s := m.Schema
	if s == nil || len(m.Members) == 0 {
		return errors.New("export: no preprocessing or no network")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if err := imputeSupported(s.Impute); err != nil {
		return err
	}
	for _, f := range s.Features {
		if err := featureSupported(f); err != nil {
			return err
		}
	}
	for i, member := range m.Members {
		if err := memberSupported(s, member); err != nil {
			if len(m.Members) > 1 {
				return fmt.Errorf("member %d: %w", i+1, err)
			}
			return err
		}
	}
	return nil
}

func imputeSupported(method string) error {
	switch method {
	case "", "mean":
		return nil
	}
	return unsupported("imputing by %q", method)
}

func featureSupported(f data.Feature) error {
	switch f.Kind {
	case data.Numeric:
		return numericSupported(f)
	case data.Categorical:
		return nil
	case data.Embedded:
		if f.Buckets > 0 {
			// The bucket is MurmurHash3 of the value's bytes, which no
			// ONNX operator computes.
			return unsupported("hashed embedded columns (column %q, %d buckets: no ONNX operator computes data.HashBucket)", f.Name, f.Buckets)
		}
		return nil
	}
	return unsupported("%s features (column %q)", f.Kind, f.Name)
}

func numericSupported(f data.Feature) error {
	switch f.Method() {
	case data.Standard, data.Robust, data.Quantile, data.PLE, data.RobustPLE:
		return nil
	}
	return unsupported("the %s numeric encoding (column %q)", f.Method(), f.Name)
}

func architectureSupported(a mtl.Arch) error {
	switch a {
	case mtl.SharedBottom, mtl.MMoE, mtl.PLE:
		return nil
	}
	return unsupported("the %s architecture", a)
}

func activationSupported(a backend.Activation) error {
	switch a {
	case backend.Identity, backend.ReLU, backend.Tanh:
		return nil
	}
	return unsupported("the %s activation", a)
}

func taskSupported(t mtl.Task) error {
	switch t.Type {
	case mtl.Multiclass, mtl.Binary, mtl.Regression:
		return nil
	}
	return unsupported("%s tasks (%q)", t.Type, t.Name)
}

// memberSupported checks one network and that it fits the schema.
func memberSupported(s *data.Schema, m *mtl.Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	p := m.Parts()
	if err := architectureSupported(p.Architecture); err != nil {
		return err
	}
	if err := activationSupported(p.Activation); err != nil {
		return err
	}
	if m.Spec.Inputs != s.Dim() || len(m.Spec.Tasks) != len(s.Targets) || len(p.Tables) != len(s.Embeddings()) {
		return errors.New("export: the network does not fit the preprocessing")
	}
	for j, e := range s.Embeddings() {
		if tb := p.Tables[j]; tb.Rows != e.Rows || tb.Dim != e.Dim {
			return fmt.Errorf("export: the table of embedded column %q is %d×%d, the preprocessing gives it %d×%d", e.Name, tb.Rows, tb.Dim, e.Rows, e.Dim)
		}
	}
	groups := 0
	if s.GroupColumn != "" {
		groups = len(s.Groups)
	}
	for t, task := range m.Spec.Tasks {
		if err := taskSupported(task); err != nil {
			return err
		}
		tg := s.Targets[t]
		if task.Type.String() != tg.Type.String() || task.Groups != groups ||
			(task.Type == mtl.Multiclass && task.Classes != len(tg.Classes)) {
			return fmt.Errorf("export: task %q does not fit target %q of the preprocessing", task.Name, tg.Name)
		}
	}
	return nil
}

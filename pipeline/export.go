package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/onnx"
)

// ExportONNX writes the model as one self-contained ONNX graph,
// preprocessing included (see package onnx), to path atomically. Its
// metadata holds the model's Description as JSON under "mtl-gpu.model".
// The columns of each NumPy feature file of the model's run (its record)
// are one [N, d] input named by the file's prefix.
// A kind of model the exporter cannot write yet is refused by name (an
// *onnx.UnsupportedError).
func (m *Model) ExportONNX(path string) error {
	if err := CheckOutput("onnx", path, Input{Option: "model", Path: m.Path}); err != nil {
		return err
	}
	desc, err := json.Marshal(m.Describe())
	if err != nil {
		return err
	}
	rec, err := readRecord(m.Path, m.Checkpoint.Run)
	if err != nil {
		return err
	}
	var blocks []string
	if rec != nil {
		for _, src := range rec.Sources {
			if src.Role == "features" {
				blocks = append(blocks, src.Prefix)
			}
		}
	}
	om := onnx.Model{
		Blocks:          blocks,
		Schema:          m.Schema,
		Members:         m.members(),
		Metadata:        map[string]string{"mtl-gpu.model": string(desc)},
		Producer:        "mtl-gpu",
		ProducerVersion: version(),
	}
	if err := onnx.Supported(om); err != nil {
		return fmt.Errorf("%s: %w", m.Path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return onnx.Write(w, om) })
}

// version is the module version of the running binary, "(devel)" for a
// build from a work tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// members returns the networks whose outputs the model averages: each
// member of the model file's network.
func (m *Model) members() []*mtl.Model { return m.Checkpoint.Model.Members() }

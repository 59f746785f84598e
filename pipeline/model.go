package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Model is a model file: the checkpoint of a training run and the schema
// that encodes raw data for it.
type Model struct {
	Path       string
	Checkpoint *mtl.Checkpoint
	Schema     *data.Schema
}

// LoadModel reads a model file and checks that its schema fits its
// architecture.
func LoadModel(path string) (*Model, error) {
	ck, meta, err := mtl.LoadFile(path)
	if err != nil {
		return nil, err
	}
	var s data.Schema
	if err := json.Unmarshal(meta, &s); err != nil {
		return nil, fmt.Errorf("%s: %w: preprocessing: %v", path, mtl.ErrNotModel, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, mtl.ErrNotModel, err)
	}
	spec := ck.Model.Spec
	if s.Dim() != spec.Inputs || len(s.Targets) != len(spec.Tasks) || !slices.Equal(specEmbeddings(&s), spec.Embeddings) {
		return nil, fmt.Errorf("%s: %w: preprocessing does not fit the architecture", path, mtl.ErrNotModel)
	}
	return &Model{Path: path, Checkpoint: ck, Schema: &s}, nil
}

// Applied is a model run on rows held in memory (see ReadRows): their
// encoding and, after Predict, the model's predictions.
type Applied struct {
	Model *Model
	// Rows is the number of rows.
	Rows int
	d    *mtl.Dataset
	// preds holds, per task, the model's outputs (see mtl.Model.Predict).
	preds [][]float32
	// Warnings are lines about the data (unseen categories and groups,
	// imputed values) for a log.
	Warnings []string
}

// Predict runs the model on every row, on b.
func (a *Applied) Predict(b backend.Backend) error {
	preds, err := a.Model.Checkpoint.Model.Predict(b, a.d)
	a.preds = preds
	return err
}

// WritePredictions writes the predictions as CSV, as predict writes a
// file's (without columns passed through).
func (a *Applied) WritePredictions(w io.Writer) error {
	pw, err := a.Model.newPredictionWriter(w, nil)
	if err != nil {
		return err
	}
	if err := pw.write(a.Rows, nil, a.preds); err != nil {
		return err
	}
	return pw.flush()
}

// WriteFile writes a whole output file atomically (see package
// internal/atomicfile), so that a failed run leaves no partial file.
func WriteFile(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, write)
}

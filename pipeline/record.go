package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/mtl-gpu/mtl-gpu/internal/fingerprint"
)

// Record is what defines a run beyond its model: where its data came from
// and how it was split. The model file stores it (mtl.Checkpoint.Run), so
// that --resume continues on the same rows with the same validation split,
// and so that info can show it.
type Record struct {
	// Sources are the run's data files: the training data first.
	Sources []Source `json:"sources"`
	// ValSplit is the fraction of the training rows held out for
	// validation, SplitSeed the seed of that split, and SplitBy how rows
	// were drawn: "rows", or "group:COLUMN" for a share of every group.
	ValSplit  float64 `json:"val_split"`
	SplitSeed uint64  `json:"split_seed"`
	SplitBy   string  `json:"split_by"`
	// Holdout is the part of the data set aside before anything was
	// learnt (the built-in demonstration's test rows), or nil.
	Holdout *Holdout `json:"holdout,omitempty"`
	// CV describes the folds of a cross-validated run (which has no
	// validation split: each member stops early on its own fold), or nil.
	CV *CrossFit `json:"cross_validation,omitempty"`
	// ConstantLoss is the loss of the constant predictor (class
	// frequencies, target means of the training rows) on the rows that
	// judge the run: the validation rows, or the training rows without
	// them. A run that does not get below it has diverged.
	ConstantLoss *float64 `json:"constant_predictor_loss,omitempty"`
	// Best holds the validation metric of each task at the best epoch.
	Best []TaskMetric `json:"best_validation_metrics,omitempty"`
	// Memory says whether the training rows were held in memory or
	// streamed, and how; nil for the built-in data and for files written
	// before it was recorded, which held them in memory.
	Memory *MemoryRecord `json:"memory,omitempty"`
}

// Source is one data file of a run.
type Source struct {
	// Role says what the file is for: "data" (training rows), "features"
	// (a NumPy matrix joined to the data row by row) or "validation"
	// (validation rows).
	Role string `json:"role"`
	// Prefix names the columns of a features file: PREFIX[0], ….
	Prefix string `json:"prefix,omitempty"`
	// Path is the file's absolute path, or empty for the built-in data,
	// which Builtin names.
	Path    string `json:"path,omitempty"`
	Builtin string `json:"builtin,omitempty"`
	// Fingerprint identifies the content; nil for a pipe or another file
	// that cannot be read twice.
	Fingerprint *fingerprint.Fingerprint `json:"fingerprint,omitempty"`
}

// Holdout is a share of the data kept out of a run for testing.
type Holdout struct {
	// Fraction is the share of each group (or of the rows) held out.
	Fraction    float64 `json:"fraction"`
	GroupColumn string  `json:"group_column,omitempty"`
	Seed        uint64  `json:"seed"`
}

// TaskMetric is a task's headline metric: accuracy (multiclass), auc
// (binary) or rmse (regression).
type TaskMetric struct {
	Task   string  `json:"task"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// builtinSchool names the built-in School data in records.
const builtinSchool = "school"

// String names the source for messages.
func (s Source) String() string {
	if s.Builtin != "" {
		return DemoName
	}
	return s.Path
}

// fileSource fingerprints a data file. The fingerprint is taken where the
// run opens the file, from its bytes, so that a resumed run can check it
// reads the same data.
func fileSource(role, path string) (Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	src := Source{Role: role, Path: abs}
	fp, ok, err := fingerprint.File(path)
	if err != nil {
		// The reader reports a missing or unreadable file with its
		// position; leave that to it.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return src, nil
		}
		return src, err
	}
	if ok {
		src.Fingerprint = &fp
	}
	return src, nil
}

// demoSource is the built-in data as a source.
func demoSource() Source {
	h := fingerprint.New()
	h.Write(schoolCSV)
	fp := h.Sum()
	return Source{Role: "data", Builtin: builtinSchool, Fingerprint: &fp}
}

// readRecord decodes a model file's run record; nil for a file written
// before runs were recorded.
func readRecord(path string, raw json.RawMessage) (*Record, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("%s: run record: %w", path, err)
	}
	if len(rec.Sources) == 0 || !(rec.ValSplit >= 0 && rec.ValSplit < 1) {
		return nil, fmt.Errorf("%s: run record without a data source or with validation split %g", path, rec.ValSplit)
	}
	return &rec, nil
}

// Package runlog writes, reads and draws training logs: one JSON object
// per epoch with the losses, each task's weight and validation metric, and
// for the gradient methods the agreement of the tasks' gradients.
//
//	{"epoch": 3, "seconds": 0.41, "lr": 0.0029, "train_loss": 0.52, "val_loss": 0.55,
//	 "tasks": {"income": {"train_loss": 0.31, "val_loss": 0.33, "val_auc": 0.90, "weight": 1}},
//	 "grad_cosine_mean": 0.12, "conflict_share": 0.33}
//
// A value that is not a finite number is written as null.
package runlog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
)

// Line is one epoch of a log. Its fields are in the order they are
// written.
type Line struct {
	// Conflict is the share of task pairs whose gradients point apart and
	// GradCosine the mean cosine between them (gradient methods only).
	Conflict   *float64 `json:"conflict_share,omitempty"`
	Epoch      int      `json:"epoch"`
	GradCosine *float64 `json:"grad_cosine_mean,omitempty"`
	LR         float64  `json:"lr"`
	Seconds    float64  `json:"seconds"`
	// Tasks maps each task to its train_loss, val_loss, weight and
	// val_<metric> (accuracy, auc or rmse).
	Tasks     map[string]map[string]*float64 `json:"tasks"`
	TrainLoss *float64                       `json:"train_loss"`
	ValLoss   *float64                       `json:"val_loss"`
}

// Float returns v for a Line field: nil (null) when it is NaN or infinite.
func Float(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Writer appends lines to a log file.
type Writer struct {
	f *os.File
}

// Create opens path for appending lines, creating it if needed.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f}, nil
}

// ErrNotLog is returned (wrapped) by CheckAppend for a file that is not
// a training log.
var ErrNotLog = errors.New("not an mtl-gpu training log")

// CheckAppend reports whether a log may be appended to path: it may when
// there is no file there, or an empty one, or one whose first line is a
// log line. Anything else (a data file given by mistake, say) gives an
// error wrapping ErrNotLog.
func CheckAppend(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return err
	}
	br := bufio.NewReader(io.LimitReader(f, 1<<20))
	for {
		text, err := br.ReadString('\n')
		if t := strings.TrimSpace(text); t != "" {
			var l struct {
				Epoch *int            `json:"epoch"`
				Tasks json.RawMessage `json:"tasks"`
			}
			if json.Unmarshal([]byte(t), &l) != nil || l.Epoch == nil || l.Tasks == nil {
				return fmt.Errorf("%s: %w", path, ErrNotLog)
			}
			return nil
		}
		if err != nil {
			return nil
		}
	}
}

// Write appends one line.
func (w *Writer) Write(l Line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = w.f.Write(append(b, '\n'))
	return err
}

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// Read reads a log. Each line is one epoch; when a file holds several runs
// (an epoch number that does not follow the one before), the last run is
// kept. A line that is not a log line is an error naming the file and
// line.
func Read(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l Line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return nil, fmt.Errorf("%s:%d: not an mtl-gpu log line: %v", path, n, err)
		}
		if len(lines) > 0 && l.Epoch <= lines[len(lines)-1].Epoch {
			lines = lines[:0]
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no epochs logged", path)
	}
	return lines, nil
}

package runlog

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func line(epoch int, loss float64) Line {
	return Line{Epoch: epoch, Seconds: 0.1, LR: 0.01, TrainLoss: Float(loss), ValLoss: Float(math.NaN()),
		GradCosine: Float(0.2), Conflict: Float(0.5),
		Tasks: map[string]map[string]*float64{"a": {"train_loss": Float(loss), "weight": Float(1)}, "b": {"train_loss": Float(2 * loss), "weight": Float(0.5)}}}
}

// TestWriteRead: lines read back as written (NaN as null), and a file
// with two runs keeps the last.
func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	for _, run := range [][]float64{{1, 0.5, 0.25}, {0.9, 0.4}} {
		w, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, loss := range run {
			if err := w.Write(line(i+1, loss)); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"val_loss":null`) {
		t.Errorf("NaN not written as null: %s", raw)
	}
	lines, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || *lines[1].TrainLoss != 0.4 || *lines[1].Tasks["b"]["train_loss"] != 0.8 || lines[0].ValLoss != nil {
		t.Fatalf("read back %+v", lines)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"epoch\":1}\nnot json\n"), 0o644)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("got %v, want an error naming bad.jsonl:2", err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Read(empty); err == nil || !strings.Contains(err.Error(), "no epochs") {
		t.Errorf("got %v for an empty log", err)
	}
}

func TestPlot(t *testing.T) {
	var lines []Line
	for e := 1; e <= 5; e++ {
		lines = append(lines, line(e, 1/float64(e)))
	}
	var png bytes.Buffer
	if err := Plot(lines, &png); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG\r\n\x1a\n")) || png.Len() < 10000 {
		t.Errorf("not a drawn PNG (%d bytes)", png.Len())
	}
}

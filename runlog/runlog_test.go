package runlog

import (
	"bytes"
	"encoding/xml"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

func TestCheckAppend(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	for _, p := range []string{filepath.Join(dir, "none.jsonl"), write("empty.jsonl", ""), write("log.jsonl", "\n{\"epoch\":1,\"tasks\":{}}\n")} {
		if err := CheckAppend(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{write("data.csv", "a,b\n1,2\n"), write("other.json", "{\"name\":1}\n")} {
		if err := CheckAppend(p); !errors.Is(err, ErrNotLog) {
			t.Errorf("%s: %v, want ErrNotLog", p, err)
		}
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

// plotLog is a log whose validation loss is lowest at epoch 3 of 5, with
// validation metrics, and task weights that are 1 up to rounding.
func plotLog() []Line {
	var lines []Line
	for e := 1; e <= 5; e++ {
		l := line(e, 1/float64(e))
		l.ValLoss = Float(math.Abs(float64(e)-3) + 0.5)
		w := 1.0
		if e%2 == 0 {
			w = 0.9999999999999998 // an average of ones over steps
		}
		l.Tasks["a"]["weight"], l.Tasks["b"]["weight"] = Float(w), Float(w)
		l.Tasks["a"]["val_loss"] = Float(0.7)
		l.Tasks["a"]["val_auc"] = Float(0.5 + 0.05*float64(e))
		l.Tasks["b"]["val_rmse"] = Float(2 / float64(e))
		lines = append(lines, l)
	}
	return lines
}

func TestPlotFormats(t *testing.T) {
	lines := plotLog()
	for _, c := range []struct {
		format string
		magic  string
	}{{"png", "\x89PNG\r\n\x1a\n"}, {"svg", "<?xml"}, {"pdf", "%PDF-"}} {
		var out bytes.Buffer
		d, err := Plot(lines, &out, c.format)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out.Bytes(), []byte(c.magic)) || out.Len() < 5000 {
			t.Errorf("%s: not a drawn %s (%d bytes, starts %q)", c.format, c.format, out.Len(), out.Bytes()[:min(8, out.Len())])
		}
		want := []string{"Task losses (solid: training, dashed: validation)", "Task weights", "Validation metrics", "Task gradients of the shared layers"}
		if !slices.Equal(d.Panels, want) || d.Epochs != 5 || d.Best != 3 || d.Tasks != 2 {
			t.Errorf("%s: drew %+v", c.format, d)
		}
	}
	for _, p := range []string{"x.svg", "X.PDF", "a.b.png"} {
		if _, err := Format(p); err != nil {
			t.Errorf("Format(%q): %v", p, err)
		}
	}
	for _, p := range []string{"x.gif", "noext"} {
		if _, err := Format(p); err == nil {
			t.Errorf("Format(%q) accepted", p)
		}
	}
}

// svgTexts returns the text of every <text> element of an SVG drawing.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	var texts []string
	dec := xml.NewDecoder(bytes.NewReader(svg))
	in := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			in = e.Name.Local == "text"
		case xml.EndElement:
			in = false
		case xml.CharData:
			if in {
				texts = append(texts, strings.TrimSpace(string(e)))
			}
		}
	}
	if len(texts) == 0 {
		t.Fatal("no text in the SVG")
	}
	return texts
}

// TestPlotSVG reads the drawing back: the best epoch is marked, the
// weight axis of weights that are all 1 (up to rounding) reads as distinct
// values around 1, validation metrics are drawn, and the legends name the
// tasks.
func TestPlotSVG(t *testing.T) {
	var out bytes.Buffer
	if _, err := Plot(plotLog(), &out, "svg"); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, out.Bytes())
	count := map[string]int{}
	for _, s := range texts {
		count[s]++
	}
	if count["best epoch 3"] < 4 {
		t.Errorf("best epoch marked %d times, want on each of 4 panels (texts %q)", count["best epoch 3"], texts)
	}
	// The weight panel's ticks follow its title and axis label.
	i := slices.Index(texts, "Task weights")
	if i < 0 {
		t.Fatalf("no weight panel in %q", texts)
	}
	var ticks []string
	for _, s := range texts[i+1:] {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			ticks = append(ticks, s)
		}
		if s == "weight" || s == "Validation metrics" {
			break
		}
	}
	seen := map[string]bool{}
	for _, s := range ticks {
		if seen[s] {
			t.Errorf("weight axis repeats the label %q: %q", s, ticks)
		}
		seen[s] = true
	}
	if !seen["1"] || len(ticks) < 3 {
		t.Errorf("weight axis labels %q: want at least three distinct values around 1", ticks)
	}
	for _, want := range []string{"a: auc", "b: rmse", "a", "b"} {
		if count[want] == 0 {
			t.Errorf("no %q in the drawing", want)
		}
	}
}

func TestDistinctTicks(t *testing.T) {
	ticks := distinctTicks{}.Ticks(0.99999999, 1.00000001)
	seen := map[string]bool{}
	for _, tk := range ticks {
		if tk.Label == "" {
			continue
		}
		if seen[tk.Label] {
			t.Fatalf("repeated label %q in %v", tk.Label, ticks)
		}
		seen[tk.Label] = true
	}
	if len(seen) < 2 {
		t.Fatalf("labels %v", ticks)
	}
}

package mtl

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// craft rewrites a model file's header with edit and drops the tensors
// for which keep returns false, then fixes the lengths and checksum, so
// that only the validation of the content can refuse it.
func craft(t *testing.T, file []byte, edit func(h map[string]any), keep func(name string) bool) []byte {
	t.Helper()
	hlen := int(binary.LittleEndian.Uint32(file[12:]))
	var h map[string]any
	if err := json.Unmarshal(file[16:16+hlen], &h); err != nil {
		t.Fatal(err)
	}
	body := file[16+hlen : len(file)-4]
	var tensors []any
	var kept []byte
	for _, ti := range h["tensors"].([]any) {
		info := ti.(map[string]any)
		n := 4 * int(info["len"].(float64))
		if keep == nil || keep(info["name"].(string)) {
			tensors = append(tensors, info)
			kept = append(kept, body[:n]...)
		}
		body = body[n:]
	}
	h["tensors"] = tensors
	if edit != nil {
		edit(h)
	}
	head, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{}, file[:12]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(head)))
	out = append(out, head...)
	out = append(out, kept...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func setState(key string, v any) func(map[string]any) {
	return func(h map[string]any) { h["state"].(map[string]any)[key] = v }
}

// TestCraftedCheckpoints: files with a valid checksum whose header does
// not fit the model they describe are refused as invalid model files,
// never loaded and never a panic.
func TestCraftedCheckpoints(t *testing.T) {
	_, file := checkpointBytes(t)
	if _, _, err := Load(bytes.NewReader(craft(t, file, nil, nil))); err != nil {
		t.Fatalf("the untouched file does not load after crafting: %v", err)
	}
	cases := []struct {
		name string
		edit func(map[string]any)
		keep func(string) bool
	}{
		{"negative epoch step", setState("epoch_step", -3), nil},
		{"epoch past the budget", setState("epoch", 1e9), nil},
		{"huge budget", func(h map[string]any) {
			h["config"].(map[string]any)["epochs"] = 1e9
			h["state"].(map[string]any)["epoch"] = 1e9
		}, nil},
		{"negative step", setState("step", -1), nil},
		{"best epoch in the future", setState("best_epoch", 99), nil},
		{"negative stale count", setState("stale", -1), nil},
		{"negative best loss", setState("best_val", -2), nil},
		{"loss sums of the wrong length", func(h map[string]any) {
			h["state"].(map[string]any)["epoch_step"] = 1
			h["state"].(map[string]any)["step"] = 100
			h["state"].(map[string]any)["epoch_sums"] = []float64{1, 2, 3}
		}, nil},
		{"row-order generator garbage", setState("rng", "AAAA"), nil},
		{"weighting weights of the wrong length", setState("weighting", map[string]any{"weights": []float64{1, 2}}), nil},
		{"missing optimiser tensors", nil, func(name string) bool { return !strings.HasPrefix(name, "opt") }},
		{"one optimiser tensor of two", nil, func(name string) bool { return name != "opt1" }},
		{"unknown optimiser", func(h map[string]any) { h["config"].(map[string]any)["optimizer"] = "lbfgs" }, nil},
		{"negative learning rate", func(h map[string]any) { h["config"].(map[string]any)["lr"] = -1 }, nil},
		{"unknown tensor", func(h map[string]any) {
			ts := h["tensors"].([]any)
			ts[len(ts)-1].(map[string]any)["name"] = "extra"
		}, nil},
		{"foreign format", func(h map[string]any) { h["format"] = "other" }, nil},
	}
	for _, c := range cases {
		bad := craft(t, file, c.edit, c.keep)
		_, _, err := Load(bytes.NewReader(bad))
		if !errors.Is(err, ErrNotModel) {
			t.Errorf("%s: loaded (err %v)", c.name, err)
		}
	}
}

// TestOldVersionLoads: a version 1 file, without a run record, still
// loads; a version 2 file keeps its run record.
func TestOldVersionLoads(t *testing.T) {
	c, file := checkpointBytes(t)
	old := craft(t, file, nil, nil)
	binary.LittleEndian.PutUint32(old[8:], 1)
	binary.LittleEndian.PutUint32(old[len(old)-4:], crc32.Checksum(old[:len(old)-4], castagnoli))
	got, _, err := Load(bytes.NewReader(old))
	if err != nil || got.Run != nil || got.State.Epoch != c.State.Epoch {
		t.Fatalf("version 1 file: %v, run %s", err, got.Run)
	}
	c.Run = json.RawMessage(`{"sources":[{"path":"x.csv"}]}`)
	var buf bytes.Buffer
	if err := Save(&buf, c, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err = Load(&buf)
	if err != nil || string(got.Run) != string(c.Run) {
		t.Fatalf("run record %s, %v", got.Run, err)
	}
}

// TestRestoreChecksSteps: a checkpoint whose step counts do not fit the
// training data (an epoch step past the epoch's end, a step count that is
// not epochs × steps + epoch step) is an error from NewTrainer, not a
// panic in Fit.
func TestRestoreChecksSteps(t *testing.T) {
	spec, cfg, data, val := smallRun(t)
	cfg.Epochs = 3
	c, _ := checkpointBytes(t)
	for _, edit := range []func(*State){
		func(s *State) {
			s.EpochStep, s.Step = 1000, s.Step+1000
			s.EpochSums = make([]float32, 2*len(spec.Tasks))
		},
		func(s *State) { s.Step += 5 },
	} {
		ck := *c
		ck.State.RNG = append([]byte(nil), c.State.RNG...)
		edit(&ck.State)
		model := &Model{Spec: c.Model.Spec, Params: append([]float32(nil), c.Model.Params...)}
		tr, err := NewTrainer(cpuBackend(t), model, cfg, data, val, &ck)
		if err == nil {
			tr.Fit(context.Background(), Hooks{})
			tr.Close()
			t.Errorf("state %+v accepted", ck.State)
		}
	}
}

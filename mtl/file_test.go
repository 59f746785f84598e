package mtl

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// checkpointBytes runs the first of three epochs and returns the
// checkpoint and its file.
func checkpointBytes(t testing.TB) (*Checkpoint, []byte) {
	spec, cfg, data, val := smallRun(t)
	cfg.Epochs = 3
	tr := newTrainer(t, cpuBackend(t), spec, cfg, data, val)
	stop := func(EpochStats) error { return errStop }
	if err := tr.Fit(context.Background(), Hooks{Epoch: stop}); !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	c, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Save(&buf, c, []byte(`{"features":[]}`)); err != nil {
		t.Fatal(err)
	}
	return c, buf.Bytes()
}

func TestFileRoundTrip(t *testing.T) {
	c, data := checkpointBytes(t)
	got, meta, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Model.Params, c.Model.Params) || !slices.Equal(got.Opt[0], c.Opt[0]) {
		t.Error("parameters or optimiser state changed in the round trip")
	}
	if got.State.Epoch != 1 || !bytes.Equal(got.State.RNG, c.State.RNG) || got.State.BestVal != c.State.BestVal || string(meta) != `{"features":[]}` {
		t.Errorf("state %+v, meta %s", got.State, meta)
	}
	if got.Model.Spec.Activation != c.Model.Spec.Activation || len(got.Model.Spec.Tasks) != len(c.Model.Spec.Tasks) || got.Model.Spec.Tasks[3].Groups != 4 {
		t.Errorf("spec changed: %+v", got.Model.Spec)
	}
	if got.Config.Optimizer != c.Config.Optimizer || got.Config.LR != c.Config.LR {
		t.Errorf("config changed: %+v", got.Config)
	}
}

// TestFileDamage: every truncation, a flipped byte anywhere, a newer
// version and foreign data give errors, never a panic or a bad model.
func TestFileDamage(t *testing.T) {
	_, data := checkpointBytes(t)
	for n := 0; n < len(data); n += 1 + n/7 {
		if _, _, err := Load(bytes.NewReader(data[:n])); err == nil {
			t.Fatalf("file truncated to %d of %d bytes loaded", n, len(data))
		}
	}
	for _, i := range []int{9, 20, 100, len(data) / 2, len(data) - 5, len(data) - 1} {
		bad := slices.Clone(data)
		bad[i] ^= 0x10
		if _, _, err := Load(bytes.NewReader(bad)); err == nil {
			t.Errorf("file with byte %d flipped loaded", i)
		}
	}
	newer := slices.Clone(data)
	binary.LittleEndian.PutUint32(newer[8:], FileVersion+1)
	if _, _, err := Load(bytes.NewReader(newer)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer version: %v", err)
	}
	if _, _, err := Load(strings.NewReader("epoch,loss\n1,0.5\n")); !errors.Is(err, ErrNotModel) {
		t.Errorf("CSV file: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	_, data := checkpointBytes(f)
	f.Add(data)
	f.Add(data[:40])
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := Load(bytes.NewReader(b))
		if err == nil {
			if err := c.Model.Validate(); err != nil {
				t.Fatalf("loaded an invalid model: %v", err)
			}
		}
	})
}

package mtl

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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

// failingWriter fails after n bytes.
type failingWriter struct {
	w io.Writer
	n int
}

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errDiskFull
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// TestSaveFailsPartWay: a save that fails after N bytes leaves the previous
// model file as it was, and no temporary file behind.
func TestSaveFailsPartWay(t *testing.T) {
	c, data := checkpointBytes(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.mtl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 10, 1000, len(data) - 3} {
		err := writeAtomic(path, func(w io.Writer) error {
			return Save(&failingWriter{w: w, n: n}, c, []byte(`{"features":[]}`))
		})
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("save failing after %d bytes returned %v", n, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
			t.Fatalf("a save failing after %d bytes changed the model file", n)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if _, _, err := LoadFile(path); err != nil {
		t.Errorf("previous model no longer loads: %v", err)
	}
}

// TestKilledBetweenWriteAndRename runs a save in a child process that is
// killed with SIGKILL after the new file is written and before it is
// renamed over the old one. The old model must load, and a run must resume
// from it.
func TestKilledBetweenWriteAndRename(t *testing.T) {
	if path := os.Getenv("MTLGPU_TEST_KILL_SAVE"); path != "" {
		c, _ := checkpointBytes(t)
		c.State.Epoch = 99
		beforeRename = func() {
			os.WriteFile(path+".ready", nil, 0o644)
			time.Sleep(time.Minute)
		}
		SaveFile(path, c, nil)
		t.Fatal("the save was not killed")
	}
	c, data := checkpointBytes(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.mtl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledBetweenWriteAndRename$")
	cmd.Env = append(os.Environ(), "MTLGPU_TEST_KILL_SAVE="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child never reached the rename")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	got, _, err := LoadFile(path)
	if err != nil {
		t.Fatalf("the model file does not load after the kill: %v", err)
	}
	if got.State.Epoch != c.State.Epoch || !slices.Equal(got.Model.Params, c.Model.Params) {
		t.Fatal("the model file is not the previous one")
	}
	// Resume from it.
	_, _, trainSet, val := smallRun(t)
	tr, err := NewTrainer(cpuBackend(t), got.Model, got.Config, trainSet, val, got)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fit(context.Background(), Hooks{}); err != nil {
		t.Fatal(err)
	}
	if tr.State().Epoch != got.Config.Epochs {
		t.Errorf("resumed run ended at epoch %d, want %d", tr.State().Epoch, got.Config.Epochs)
	}
}

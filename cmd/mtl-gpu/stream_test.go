package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStreamFlags: train says whether it holds the training rows in
// memory or streams them, and why; --stream on a pipe is an error naming
// it; --no-stream with a budget too small is an error with the amounts;
// a streamed run resumes streamed, whatever the flags say; info shows
// how the rows were held.
func TestStreamFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := sharedFile(t, "seed_example/seed_train.csv")
	train := func(out string, more ...string) []string {
		return append([]string{"train", "--data", data, "--task", "y:multiclass", "--out", out, "--epochs", "2", "--device", "cpu"}, more...)
	}

	r := mtlgpu(t, dir, train("mem.mtl")...)
	ok(t, r)
	if !strings.Contains(r.stderr, `msg="training in memory: the 800 rows encoded`) || !strings.Contains(r.stderr, "within the memory budget of") {
		t.Errorf("no line saying the rows are held in memory in %q", r.stderr)
	}
	r = mtlgpu(t, dir, train("s.mtl", "--stream", "--max-memory", "4M", "--shuffle-window", "2")...)
	ok(t, r)
	if !strings.Contains(r.stderr, `msg="streaming the training data, as asked:`) || !strings.Contains(r.stderr, "memory budget of 4 MiB (--max-memory)") ||
		!strings.Contains(r.stderr, "shuffled 2 blocks at a time") {
		t.Errorf("no line saying the rows are streamed in %q", r.stderr)
	}

	r = mtlgpu(t, dir, "info", "s.mtl")
	ok(t, r)
	if !strings.Contains(r.stdout, "training rows: streamed from the data file in blocks of up to") || !strings.Contains(r.stdout, "2 blocks shuffled together") {
		t.Errorf("info does not say the rows were streamed:\n%s", r.stdout)
	}
	r = mtlgpu(t, dir, "info", "mem.mtl")
	if !strings.Contains(r.stdout, "training rows: held in memory") {
		t.Errorf("info does not say the rows were held in memory:\n%s", r.stdout)
	}
	r = mtlgpu(t, dir, "info", "--json", "s.mtl")
	ok(t, r)
	var desc struct {
		Data struct {
			Memory struct {
				Streamed bool `json:"streamed"`
				Budget   int64
				Layout   struct {
					Window int `json:"window"`
				} `json:"layout"`
			} `json:"memory"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &desc); err != nil {
		t.Fatal(err)
	}
	if m := desc.Data.Memory; !m.Streamed || m.Budget != 4<<20 || m.Layout.Window != 2 {
		t.Errorf("info --json: %+v", m)
	}

	// Resumed with flags that would hold the rows in memory, it streams
	// as it did.
	r = mtlgpu(t, dir, "train", "--resume", "s.mtl", "--epochs", "3", "--no-stream", "--max-memory", "1G", "--device", "cpu")
	ok(t, r)
	if !strings.Contains(r.stderr, "streaming the training data, as the run did") || !strings.Contains(r.stderr, "--max-memory, --no-stream ignored") {
		t.Errorf("resumed run: %q", r.stderr)
	}
	if r := mtlgpu(t, dir, "info", "s.mtl"); !strings.Contains(r.stdout, "3 of 3 epochs") || !strings.Contains(r.stdout, "training rows: streamed") {
		t.Errorf("after resuming:\n%s", r.stdout)
	}

	failsWith(t, "--no-stream with a small budget", mtlgpu(t, dir, train("n.mtl", "--no-stream", "--max-memory", "20K")...), 1,
		"more than the memory budget of 20 KiB (--max-memory), and streaming is off")
	r = mtlgpu(t, dir, train("n.mtl", "--no-stream", "--max-memory", "20K")...)
	if !strings.Contains(r.stderr, "the 800 rows encoded") || !strings.Contains(r.stderr, "need about") {
		t.Errorf("the error does not give the amounts: %q", r.stderr)
	}
	failsWith(t, "--stream --no-stream", mtlgpu(t, dir, train("n.mtl", "--stream", "--no-stream")...), 2, "--stream and --no-stream: choose one")
	failsWith(t, "--max-memory lots", mtlgpu(t, dir, train("n.mtl", "--max-memory", "lots")...), 2, `--max-memory: memory size "lots"`)
	failsWith(t, "--stream --cv 3", mtlgpu(t, dir, train("n.mtl", "--stream", "--cv", "3")...), 2, "--cv 3: cannot be streamed")
	failsWith(t, "--stream without --data", mtlgpu(t, dir, "train", "--stream"), 2, "--data: is required with --stream")

	// A pipe cannot be streamed: every epoch reads the data again.
	cmd := exec.Command(binary, "train", "--data", "/dev/stdin", "--task", "y:multiclass", "--out", "p.mtl", "--stream", "--device", "cpu")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(readFile(t, data)) // through a pipe
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "/dev/stdin is not a regular file (a pipe?): streaming reads the data again in every epoch") {
		t.Errorf("--stream on a pipe: %v, %q", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "p.mtl")); err == nil {
		t.Error("the failed run wrote a model")
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExport writes an ONNX file from a trained model and refuses a
// command line without the model or the output.
func TestExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", sharedFile(t, "emotions/emotions_train.csv"), "--task", "happy-pleased:binary", "--out", "m.mtl", "--epochs", "1"))
	ok(t, mtlgpu(t, dir, "export", "--quiet", "--model", "m.mtl", "--onnx", "m.onnx"))
	raw, err := os.ReadFile(filepath.Join(dir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// A ModelProto starts with field 1, ir_version 8: bytes 0x08 0x08.
	if len(raw) < 1000 || raw[0] != 0x08 || raw[1] != 0x08 || !strings.Contains(string(raw), "happy-pleased:probabilities") {
		t.Errorf("m.onnx (%d bytes) does not look like the exported model", len(raw))
	}
	for _, args := range [][]string{{"export", "--onnx", "x.onnx"}, {"export", "--model", "m.mtl"}} {
		if r := mtlgpu(t, dir, args...); r.code != 2 || !strings.Contains(r.stderr, "is required") {
			t.Errorf("%v: exit status %d, %q", args, r.code, r.stderr)
		}
	}
	if r := mtlgpu(t, dir, "export", "--model", "missing.mtl", "--onnx", "x.onnx"); r.code != 1 {
		t.Errorf("a missing model: exit status %d, %q", r.code, r.stderr)
	}
}

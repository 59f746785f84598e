package onnxpb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// debianProto is where Debian's python3-onnx puts the definition that
// onnx-ml.proto copies.
const debianProto = "/usr/lib/python3/dist-packages/onnx/onnx-ml.proto"

// TestGeneratedCodeIsCurrent regenerates the Go types into a scratch
// folder and checks that they equal the committed ones, and that the
// committed onnx-ml.proto equals the one python3-onnx ships where it is
// installed. Without protoc it skips, or fails under
// MTLGPU_REQUIRE_ONNX=1.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("MTLGPU_REQUIRE_ONNX") == "1" {
			t.Fatal("protoc not found (apt install protobuf-compiler; MTLGPU_REQUIRE_ONNX=1)")
		}
		t.Skip("protoc not found (apt install protobuf-compiler)")
	}
	out := t.TempDir()
	cmd := exec.Command("../../../scripts/gen-onnx-proto.sh", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(filepath.Join(out, "onnx-ml.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("onnx-ml.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("onnx-ml.pb.go differs from what the generator writes: run go generate ./onnx/...")
	}
	if debian, err := os.ReadFile(debianProto); err == nil {
		committed, err := os.ReadFile("onnx-ml.proto")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, debian) {
			t.Errorf("onnx-ml.proto differs from %s", debianProto)
		}
	}
}

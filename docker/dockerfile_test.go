package docker

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// goVersion returns the Go release go.mod asks for: its toolchain line,
// or else its go line.
func goVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^toolchain go(\S+)\s*$`).FindSubmatch(data); m != nil {
		return string(m[1])
	}
	m := regexp.MustCompile(`(?m)^go (\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// dockerfiles returns every Dockerfile of this directory, by name.
func dockerfiles(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("*.Dockerfile")
	if err != nil || len(names) == 0 {
		t.Fatalf("no Dockerfiles: %v", err)
	}
	out := map[string]string{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(data)
	}
	return out
}

var (
	fromGolang = regexp.MustCompile(`(?m)^FROM golang:(\S+) AS build$`)
	envLocal   = regexp.MustCompile(`(?m)^ENV GOTOOLCHAIN=local$`)
)

// TestGoVersion checks that every image builds with the Go image of
// go.mod's version, and never downloads a toolchain.
func TestGoVersion(t *testing.T) {
	want := goVersion(t)
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(want) {
		t.Fatalf("go.mod asks for Go %q, not a release with a patch number that an image tag can name", want)
	}
	for name, text := range dockerfiles(t) {
		m := fromGolang.FindAllStringSubmatch(text, -1)
		if len(m) != 1 {
			t.Errorf("%s: %d build stages FROM golang:… AS build, want 1", name, len(m))
			continue
		}
		if m[0][1] != want {
			t.Errorf("%s builds with golang:%s, go.mod asks for Go %s", name, m[0][1], want)
		}
		if !envLocal.MatchString(text) {
			t.Errorf("%s does not set GOTOOLCHAIN=local", name)
		}
	}
}

// TestCUDABase checks the CUDA image's base: a runtime image (which has
// cuBLAS) of a full CUDA release, whose cuBLAS the backend looks for
// (libcublas.so.12 or .13), on a current Ubuntu.
func TestCUDABase(t *testing.T) {
	text := dockerfiles(t)["cuda.Dockerfile"]
	arg := regexp.MustCompile(`(?m)^ARG CUDA_VERSION=(\d+)\.(\d+)\.(\d+)$`).FindStringSubmatch(text)
	if arg == nil {
		t.Fatal("cuda.Dockerfile has no ARG CUDA_VERSION=X.Y.Z")
	}
	if major, _ := strconv.Atoi(arg[1]); major != 12 && major != 13 {
		t.Errorf("CUDA %s.%s.%s: the backend looks for cuBLAS 12 or 13", arg[1], arg[2], arg[3])
	}
	if !regexp.MustCompile(`(?m)^FROM nvidia/cuda:\$\{CUDA_VERSION\}-runtime-ubuntu(22|24)\.04$`).MatchString(text) {
		t.Error("cuda.Dockerfile does not start from nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu22.04 or 24.04")
	}
	// Data-parallel training loads Open MPI's libmpi.so.40, which
	// openmpi-bin brings with mpirun.
	runtime := text[strings.LastIndex(text, "\nFROM "):]
	if !regexp.MustCompile(`apt-get install [^\n]*\bopenmpi-bin\b`).MatchString(runtime) {
		t.Error("the CUDA runtime image does not install openmpi-bin (mpirun and libmpi.so.40)")
	}
	if !strings.Contains(runtime, "libnccl2") {
		t.Error("the CUDA runtime image does not make sure of NCCL (libnccl2)")
	}
}

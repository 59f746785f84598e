package kernels_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/kernels"
	"github.com/mtl-gpu/mtl-gpu/kernels/internal/ptxgen"
)

// clang returns the clang executable. Without one it skips the test, or
// fails it when MTLGPU_REQUIRE_CLANG=1.
func clang(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("clang")
	if err != nil {
		const why = "clang is not installed (apt-get install clang); it compiles the CUDA dialect to PTX"
		if os.Getenv("MTLGPU_REQUIRE_CLANG") == "1" {
			t.Fatalf("%s, and MTLGPU_REQUIRE_CLANG=1", why)
		}
		t.Skipf("skipping: %s (set MTLGPU_REQUIRE_CLANG=1 to fail instead)", why)
	}
	return path
}

// cc returns the host C compiler ($CC, cc, gcc or clang). Without one it
// skips the test, or fails it when MTLGPU_REQUIRE_CC=1.
func cc(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const why = "no C compiler ($CC, cc, gcc or clang); it compiles the host dialect"
	if os.Getenv("MTLGPU_REQUIRE_CC") == "1" {
		t.Fatalf("%s, and MTLGPU_REQUIRE_CC=1", why)
	}
	t.Skipf("skipping: %s (set MTLGPU_REQUIRE_CC=1 to fail instead)", why)
	return ""
}

// TestPTXSourceHash checks, without a compiler, that kernels.ptx was made
// from the current CUDA source.
func TestPTXSourceHash(t *testing.T) {
	h, err := ptxgen.ParseHeader(kernels.PTX())
	if err != nil {
		t.Fatal(err)
	}
	if want := ptxgen.SourceHash(kernels.Source(kernels.CUDA)); h.SourceHash != want {
		t.Fatalf("kernels.ptx was made from another source (hash %s, source now %s): run go generate ./kernels", h.SourceHash, want)
	}
}

// TestPTXUpToDate regenerates kernels.ptx with clang and compares it with
// the committed file.
func TestPTXUpToDate(t *testing.T) {
	cc := clang(t)
	ctx := context.Background()
	h, err := ptxgen.ParseHeader(kernels.PTX())
	if err != nil {
		t.Fatal(err)
	}
	version, err := ptxgen.Version(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ptxgen.Generate(ctx, cc, kernels.Source(kernels.CUDA))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) == kernels.PTX() {
		return
	}
	if version != h.Compiler {
		t.Fatalf("kernels.ptx differs from what %q makes of the source, and was made by %q: run go generate ./kernels with that compiler", version, h.Compiler)
	}
	t.Fatal("kernels.ptx differs from what clang makes of the current source: run go generate ./kernels")
}

// entry matches a kernel entry point of the PTX and its parameter list.
var entry = regexp.MustCompile(`(?s)\.visible \.entry (\w+)\((.*?)\)`)

// TestCompileCUDA compiles the CUDA dialect and checks that each kernel
// of the table is an unmangled entry point whose parameters have the types
// of its arguments.
func TestCompileCUDA(t *testing.T) {
	ptx, err := ptxgen.Compile(context.Background(), clang(t), kernels.Source(kernels.CUDA))
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, ptx)
}

// TestCommittedPTXEntries checks the committed PTX the same way, without a
// compiler.
func TestCommittedPTXEntries(t *testing.T) {
	checkEntries(t, kernels.PTX())
}

func checkEntries(t *testing.T, ptx string) {
	t.Helper()
	params := map[string][]string{}
	for _, m := range entry.FindAllStringSubmatch(ptx, -1) {
		var types []string
		for _, p := range strings.Split(m[2], ",") {
			if f := strings.Fields(p); len(f) >= 2 {
				types = append(types, f[1])
			}
		}
		params[m[1]] = types
	}
	want := map[kernels.ArgKind]string{kernels.Int: ".u32", kernels.Float: ".f32", kernels.FloatBuffer: ".u64", kernels.IntBuffer: ".u64"}
	for _, k := range kernels.Kernels() {
		t.Run(k.Name, func(t *testing.T) {
			got, ok := params[k.Name]
			if !ok {
				t.Fatalf("no entry point %s", k.Name)
			}
			if len(got) != len(k.Args) {
				t.Fatalf("%d parameters, want %d", len(got), len(k.Args))
			}
			for i, a := range k.Args {
				if got[i] != want[a.Kind] {
					t.Errorf("parameter %d (%s) is %s, want %s", i, a.Name, got[i], want[a.Kind])
				}
			}
		})
		delete(params, k.Name)
	}
	for name := range params {
		t.Errorf("entry point %s is not in the kernel table", name)
	}
}

// TestCompileOpenCL checks the OpenCL dialect with clang's OpenCL C 1.2
// front end, so that it is compiled even where no OpenCL driver is
// installed.
func TestCompileOpenCL(t *testing.T) {
	cc := clang(t)
	file := filepath.Join(t.TempDir(), "kernels.cl")
	if err := os.WriteFile(file, []byte(kernels.Source(kernels.OpenCL)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, "-x", "cl", "-cl-std=CL1.2", "-Xclang", "-finclude-default-header",
		"-fsyntax-only", "-Wall", "-Werror", file).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestCompileHost compiles the host dialect with warnings as errors, and
// checks that its entry table has every kernel of the table, with its
// argument count.
func TestCompileHost(t *testing.T) {
	src := kernels.Source(kernels.Host)
	for _, k := range kernels.Kernels() {
		entry := fmt.Sprintf("{%q, %d, mtl_host_run_%s},", k.Name, len(k.Args), k.Name)
		if !strings.Contains(src, entry) {
			t.Errorf("the host entry table lacks %s", entry)
		}
	}
	file := filepath.Join(t.TempDir(), "kernels_host.c")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc(t), "-std=gnu11", "-fsyntax-only", "-Wall", "-Wno-unknown-pragmas", "-Werror", file).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

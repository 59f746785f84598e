package kernels

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// kernelDecl matches a kernel's signature in a neutral source.
var kernelDecl = regexp.MustCompile(`(?s)KERNEL\s+void\s+(\w+)\s*\(([^)]*)\)`)

// parseParam returns the kind and name of one parameter declaration.
func parseParam(decl string) (Arg, error) {
	fields := strings.Fields(strings.ReplaceAll(decl, "*", " * "))
	if len(fields) < 2 {
		return Arg{}, fmt.Errorf("cannot parse parameter %q", decl)
	}
	name := fields[len(fields)-1]
	typ := strings.Join(fields[:len(fields)-1], " ")
	kinds := map[string]ArgKind{
		"int":                  Int,
		"float":                Float,
		"GLOBAL float *":       FloatBuffer,
		"GLOBAL const float *": FloatBuffer,
		"GLOBAL int *":         IntBuffer,
		"GLOBAL const int *":   IntBuffer,
	}
	k, ok := kinds[typ]
	if !ok {
		return Arg{}, fmt.Errorf("parameter %q: type %q is not an int, a float or a GLOBAL buffer", decl, typ)
	}
	return Arg{Name: name, Kind: k}, nil
}

// parseKernels returns every kernel declared in the neutral sources.
func parseKernels(t *testing.T) []Kernel {
	t.Helper()
	var out []Kernel
	for _, src := range bodies {
		for _, m := range kernelDecl.FindAllStringSubmatch(src, -1) {
			k := Kernel{Name: m[1]}
			for _, p := range strings.Split(m[2], ",") {
				a, err := parseParam(p)
				if err != nil {
					t.Fatalf("kernel %s: %v", m[1], err)
				}
				k.Args = append(k.Args, a)
			}
			out = append(out, k)
		}
	}
	return out
}

// TestTableMatchesSource checks the kernel table against the signatures in
// the sources: same kernels in the same order, same argument names and
// kinds.
func TestTableMatchesSource(t *testing.T) {
	parsed := parseKernels(t)
	table := Kernels()
	names := func(ks []Kernel) []string {
		var s []string
		for _, k := range ks {
			s = append(s, k.Name)
		}
		return s
	}
	if !slices.Equal(names(parsed), names(table)) {
		t.Fatalf("source declares %v, table lists %v", names(parsed), names(table))
	}
	for i, k := range table {
		if !slices.Equal(k.Args, parsed[i].Args) {
			t.Errorf("%s: table %v, source %v", k.Name, k.Args, parsed[i].Args)
		}
	}
}

// TestTableRules checks the conventions every launcher relies on.
func TestTableRules(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kernels() {
		if seen[k.Name] {
			t.Errorf("%s listed twice", k.Name)
		}
		seen[k.Name] = true
		for i, a := range k.Args {
			switch a.Kind {
			case Int, Float:
			case FloatBuffer, IntBuffer:
				if i+1 >= len(k.Args) || k.Args[i+1] != (Arg{a.Name + "_off", Int}) {
					t.Errorf("%s: buffer %s is not followed by int %s_off", k.Name, a.Name, a.Name)
				}
			default:
				t.Errorf("%s: argument %s has kind %v", k.Name, a.Name, a.Kind)
			}
		}
		for _, n := range k.Local {
			if n < 0 || (n == 0) != (k.Local[0] == 0) {
				t.Errorf("%s: local size %v is neither all zero nor all positive", k.Name, k.Local)
				break
			}
		}
		if got, ok := Lookup(k.Name); !ok || got.Name != k.Name || !slices.Equal(got.Args, k.Args) {
			t.Errorf("Lookup(%q) = %v, %v", k.Name, got, ok)
		}
	}
	if _, ok := Lookup("no_such_kernel"); ok {
		t.Error("Lookup found a kernel that does not exist")
	}
	// The table is not shared with callers.
	ks := Kernels()
	ks[0].Args[0].Name = "changed"
	if Kernels()[0].Args[0].Name == "changed" {
		t.Error("Kernels returns the table itself")
	}
}

// macroDef matches a #define: name, optional parameter list, body.
var macroDef = regexp.MustCompile(`(?m)^#define\s+(\w+)(\(([^)]*)\))?[ \t]*(.*)$`)

type macro struct {
	arity int // -1 for an object-like macro
	body  string
}

func macros(src string) map[string]macro {
	out := map[string]macro{}
	for _, m := range macroDef.FindAllStringSubmatch(src, -1) {
		arity := -1
		if m[2] != "" {
			arity = 0
			if strings.TrimSpace(m[3]) != "" {
				arity = len(strings.Split(m[3], ","))
			}
		}
		out[m[1]] = macro{arity: arity, body: strings.TrimSpace(m[4])}
	}
	return out
}

// wrapped reports whether body is one parenthesised expression.
func wrapped(body string) bool {
	if !strings.HasPrefix(body, "(") {
		return false
	}
	depth := 0
	for i, c := range body {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 && i != len(body)-1 {
				return false
			}
		}
	}
	return depth == 0
}

// TestPreludes checks that every dialect defines the same macros with the
// same arity, that the macros the kernels rely on exist, that every
// function-like macro expands to one parenthesised expression, and that the
// host dialect computes its maths as the CUDA dialect does (with the same
// cuda_maths.h).
func TestPreludes(t *testing.T) {
	preludes := map[string]map[string]macro{
		"OpenCL": macros(preludeOpenCL), "CUDA": macros(preludeCUDA + cudaMaths), "host": macros(preludeHost + cudaMaths),
	}
	required := map[string]int{"BARRIER": 0, "FMAX": 2, "FMIN": 2}
	for _, name := range []string{"KERNEL", "GLOBAL", "LOCAL", "LOCAL_PTR", "DEVICE"} {
		required[name] = -1
	}
	for _, name := range []string{"GLOBAL_ID", "GLOBAL_SIZE", "LOCAL_ID", "LOCAL_SIZE", "GROUP_ID", "NUM_GROUPS",
		"EXP", "LOG", "LOG1P", "TANH", "SQRT", "FABS"} {
		required[name] = 1
	}
	for name, arity := range required {
		for dialect, ms := range preludes {
			m, ok := ms[name]
			switch {
			case !ok:
				t.Errorf("%s prelude does not define %s", dialect, name)
			case m.arity != arity:
				t.Errorf("%s prelude: %s has arity %d, want %d", dialect, name, m.arity, arity)
			}
		}
	}
	cl := preludes["OpenCL"]
	for dialect, ms := range preludes {
		for name, m := range cl {
			if o, ok := ms[name]; !ok || o.arity != m.arity {
				t.Errorf("%s: OpenCL arity %d, %s %v (defined: %v)", name, m.arity, dialect, o.arity, ok)
			}
		}
		for name := range ms {
			if _, ok := cl[name]; !ok {
				t.Errorf("%s is defined in the %s prelude but not in OpenCL's", name, dialect)
			}
		}
		for name, m := range ms {
			if m.arity >= 0 && !wrapped(m.body) {
				t.Errorf("%s prelude: %s expands to %q, not one parenthesised expression", dialect, name, m.body)
			}
		}
	}
	// The host dialect shares the CUDA dialect's maths, and adds only
	// qualifiers and geometry of its own.
	for name := range macros(cudaMaths) {
		if _, ok := macros(preludeCUDA)[name]; ok {
			t.Errorf("%s is defined in both the CUDA prelude and cuda_maths.h", name)
		}
		if _, ok := macros(preludeHost)[name]; ok {
			t.Errorf("%s is defined in both the host prelude and cuda_maths.h", name)
		}
	}
	for _, bad := range []string{"(a) + (b)", "(a", "x"} {
		if wrapped(bad) {
			t.Errorf("wrapped(%q) = true", bad)
		}
	}
}

// treeLoop matches the halving loop of a work-group tree sum.
var treeLoop = regexp.MustCompile(`span\s*(/=\s*2|>>=\s*1)`)

// TestOneTreeSum checks that the work-group tree sum is written once, in
// common.h, and that every kernel that shares values through local memory
// and barriers either calls it or is a GEMM (which stages tiles, not
// sums).
func TestOneTreeSum(t *testing.T) {
	loops := 0
	for _, src := range bodies {
		loops += len(treeLoop.FindAllString(src, -1))
	}
	if loops != 1 || len(treeLoop.FindAllString(commonSource, -1)) != 1 {
		t.Errorf("%d tree-sum loops in the kernels, want one, in common.h", loops)
	}
	for _, src := range bodies {
		locs := kernelDecl.FindAllStringSubmatchIndex(src, -1)
		for i, loc := range locs {
			end := len(src)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			name, body := src[loc[2]:loc[3]], src[loc[1]:end]
			if strings.Contains(body, "LOCAL float") && !strings.Contains(body, "tree_sum(") && !strings.HasPrefix(name, "gemm") {
				t.Errorf("kernel %s reduces in local memory without tree_sum", name)
			}
		}
	}
}

// TestFiles checks that every kernel file begins with a #line directive
// naming it and is part of the program, and that no file has a name Go
// would compile as C.
func TestFiles(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	all := Source(OpenCL) + Source(CUDA) + Source(Host)
	n := 0
	for _, e := range entries {
		name := e.Name()
		switch filepath.Ext(name) {
		case ".c":
			t.Errorf("%s: kernel files must not end in .c", name)
		case ".h", ".cuh", ".cl":
			n++
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			if want := fmt.Sprintf("#line 1 %q", name); first != want {
				t.Errorf("%s begins with %q, want %q", name, first, want)
			}
			if !strings.Contains(all, string(data)) {
				t.Errorf("%s is not part of the program", name)
			}
		}
	}
	if n != len(bodies)+4 {
		t.Errorf("%d kernel files, want %d bodies, 3 preludes and cuda_maths.h", n, len(bodies))
	}
}

// TestConstants checks the codes the kernels share with package backend.
func TestConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"ACT_IDENTITY", actIdentity, int(backend.Identity)},
		{"ACT_RELU", actReLU, int(backend.ReLU)},
		{"ACT_TANH", actTanh, int(backend.Tanh)},
		{"LOSS_SOFTMAX", lossSoftmax, int(backend.Softmax)},
		{"LOSS_SIGMOID", lossSigmoid, int(backend.Sigmoid)},
		{"LOSS_SQUARED", lossSquared, int(backend.Squared)},
		{"LOSS_TASK_INTS", lossTaskInts, backend.LossTaskInts},
		{"LOSS_TASK_FLOATS", lossTaskFloats, backend.LossTaskFloats},
		{"GEMM_TILE_M % GEMM_LOCAL_Y", GemmTileM % GemmLocalY, 0},
		{"GEMM_TILE_N % GEMM_LOCAL_X", GemmTileN % GemmLocalX, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	for _, n := range []int{ColSumLocalY, ReduceLocal, LossLocal} {
		if n&(n-1) != 0 {
			t.Errorf("tree reductions need a power of two, got %d", n)
		}
	}
	for _, c := range defines {
		if !strings.Contains(Source(CUDA), fmt.Sprintf("#define %s %d\n", c.name, c.value)) {
			t.Errorf("%s missing from the source", c.name)
		}
	}
	if Source(OpenCL) == Source(CUDA) || Source(Host) == Source(CUDA) || OpenCL.String() != "opencl" ||
		CUDA.String() != "cuda" || Host.String() != "host" {
		t.Error("dialects are not told apart")
	}
}

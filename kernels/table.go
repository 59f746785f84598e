package kernels

import "fmt"

// ArgKind is the type of one kernel argument.
type ArgKind uint8

const (
	// Int is a 32-bit signed integer.
	Int ArgKind = iota + 1
	// Float is a 32-bit float.
	Float
	// FloatBuffer is a buffer of float32 elements in global memory.
	FloatBuffer
	// IntBuffer is a buffer of int32 elements in global memory.
	IntBuffer
)

// String returns the argument kind's C spelling without qualifiers.
func (k ArgKind) String() string {
	switch k {
	case Int:
		return "int"
	case Float:
		return "float"
	case FloatBuffer:
		return "float*"
	case IntBuffer:
		return "int*"
	}
	return fmt.Sprintf("ArgKind(%d)", uint8(k))
}

// IsBuffer reports whether k is a buffer kind.
func (k ArgKind) IsBuffer() bool { return k == FloatBuffer || k == IntBuffer }

// Arg is one kernel argument: its name in the source and its kind. Every
// buffer argument X is followed by the Int argument X_off, its element
// offset.
type Arg struct {
	Name string
	Kind ArgKind
}

// Kernel describes one kernel.
type Kernel struct {
	// Name is the kernel's name in both dialects.
	Name string
	// Args are its arguments in order.
	Args []Arg
	// Local is the work-group size the kernel requires, or all zeros when
	// any size works (grid-stride loops).
	Local [3]int
}

// Kernels returns the table of every kernel, in source order. The caller
// may modify the result.
func Kernels() []Kernel {
	out := make([]Kernel, len(table))
	for i, k := range table {
		out[i] = k
		out[i].Args = append([]Arg(nil), k.Args...)
	}
	return out
}

// Lookup returns the kernel called name.
func Lookup(name string) (Kernel, bool) {
	for _, k := range table {
		if k.Name == name {
			k.Args = append([]Arg(nil), k.Args...)
			return k, true
		}
	}
	return Kernel{}, false
}

func ints(names ...string) []Arg {
	out := make([]Arg, len(names))
	for i, n := range names {
		out[i] = Arg{n, Int}
	}
	return out
}

func floats(names ...string) []Arg {
	out := make([]Arg, len(names))
	for i, n := range names {
		out[i] = Arg{n, Float}
	}
	return out
}

// buf is a float buffer and its offset.
func buf(name string) []Arg { return []Arg{{name, FloatBuffer}, {name + "_off", Int}} }

// ibuf is an int buffer and its offset.
func ibuf(name string) []Arg { return []Arg{{name, IntBuffer}, {name + "_off", Int}} }

func args(parts ...[]Arg) []Arg {
	var out []Arg
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// gemmArgs are the arguments of both GEMM kernels.
var gemmArgs = args(ints("trans_a", "trans_b", "m", "n", "k"), floats("alpha"),
	buf("a"), ints("lda", "stride_a"),
	buf("b"), ints("ldb", "stride_b"),
	floats("beta"), buf("c"), ints("ldc", "stride_c"))

var table = []Kernel{
	{Name: "axpy", Args: args(ints("n"), floats("alpha"), buf("y"), buf("x"))},
	{Name: "scale", Args: args(ints("n"), floats("alpha"), buf("x"))},
	{Name: "copy", Args: args(ints("n"), buf("dst"), buf("src"))},
	{Name: "fill", Args: args(ints("rows", "cols"), floats("value"), buf("x"), ints("x_stride"))},
	{Name: "transpose", Args: args(ints("rows", "cols", "batch"),
		buf("dst"), ints("dst_stride", "dst_batch"),
		buf("src"), ints("src_stride", "src_batch"))},
	{Name: "gather_rows", Args: args(ints("rows", "cols", "src_rows"),
		buf("dst"), ints("dst_stride"),
		buf("src"), ints("src_stride"),
		ibuf("idx"), ibuf("status"))},
	{Name: "bias_act", Args: args(ints("rows", "cols", "act", "has_bias"),
		buf("m"), ints("m_stride"), buf("bias"))},
	{Name: "act_grad", Args: args(ints("rows", "cols", "act"),
		buf("grad"), ints("grad_stride"),
		buf("out"), ints("out_stride"))},
	{Name: "dropout", Args: args(ints("rows", "cols", "row0", "key_lo", "key_hi", "threshold"), floats("scale"),
		buf("dst"), ints("dst_stride"), buf("src"), ints("src_stride"))},
	{Name: "col_sum_blocks", Args: args(ints("rows", "cols"), buf("partial"), buf("m"), ints("m_stride")),
		Local: [3]int{ColSumLocalX, ColSumLocalY, 1}},
	{Name: "col_sum", Args: args(ints("blocks", "cols"), floats("alpha", "beta"), buf("dst"), buf("partial"))},
	{Name: "sum_squares", Args: args(ints("n"), buf("partial"), buf("x")),
		Local: [3]int{ReduceLocal, 1, 1}},
	{Name: "sum_partials", Args: args(ints("n"), buf("dst"), buf("partial")),
		Local: [3]int{ReduceLocal, 1, 1}},
	{Name: "loss_grad", Args: args(ints("rows"),
		buf("z"), ints("z_stride"),
		buf("y"), ints("y_stride"),
		ibuf("tasks"), buf("task_floats"), buf("weights"),
		buf("grad"), ints("grad_stride"),
		buf("sums")),
		Local: [3]int{LossLocal, 1, 1}},
	{Name: "sgd_step", Args: args(ints("n"), floats("lr", "momentum", "weight_decay"), ints("nesterov"), floats("max_norm"),
		buf("param"), buf("grad"), buf("vel"), buf("norm_sq"))},
	{Name: "adam_step", Args: args(ints("n"), floats("lr", "beta1", "beta2", "eps", "weight_decay"), ints("decoupled"),
		floats("correction1", "correction2", "max_norm"),
		buf("param"), buf("grad"), buf("m"), buf("v"), buf("norm_sq"))},
	{Name: "mix_experts", Args: args(ints("rows", "groups", "width"), buf("dst"), ints("dst_stride"),
		buf("gates"), ints("gates_stride"), buf("experts"), ints("experts_stride"), ibuf("table"))},
	{Name: "mix_experts_grad_gates", Args: args(ints("rows", "groups", "slots", "width"), buf("dgates"), ints("dgates_stride"),
		buf("ddst"), ints("ddst_stride"), buf("experts"), ints("experts_stride"), ibuf("table"))},
	{Name: "mix_experts_grad_experts", Args: args(ints("rows", "groups", "slots", "num_experts", "width"), buf("dexperts"), ints("dexperts_stride"),
		buf("ddst"), ints("ddst_stride"), buf("gates"), ints("gates_stride"), ibuf("table"))},
	{Name: "softmax_groups", Args: args(ints("rows", "groups"), buf("m"), ints("m_stride"), ibuf("table"))},
	{Name: "softmax_groups_grad", Args: args(ints("rows", "groups"), buf("grad"), ints("grad_stride"),
		buf("probs"), ints("probs_stride"), ibuf("table"))},
	{Name: "segment_sum", Args: args(ints("segs", "cols", "src_rows"), buf("dst"), ints("dst_stride"),
		buf("src"), ints("src_stride"), ibuf("starts"), ibuf("pos"), ibuf("status"))},
	{Name: "adam_rows", Args: args(ints("n", "cols", "table_rows"), floats("lr", "beta1", "beta2", "eps", "weight_decay"), ints("decoupled"),
		floats("correction1", "correction2", "max_norm"),
		buf("param"), ints("param_stride"), buf("grad"), ints("grad_stride"), buf("m"), ints("m_stride"), buf("v"), ints("v_stride"),
		ibuf("rows"), buf("norm_sq"), ibuf("status"))},
	{Name: "sgd_rows", Args: args(ints("n", "cols", "table_rows"), floats("lr", "momentum", "weight_decay"), ints("nesterov"), floats("max_norm"),
		buf("param"), ints("param_stride"), buf("grad"), ints("grad_stride"), buf("vel"), ints("vel_stride"),
		ibuf("rows"), buf("norm_sq"), ibuf("status"))},
	{Name: "gemm_tiled", Args: gemmArgs, Local: [3]int{GemmLocalX, GemmLocalY, 1}},
	{Name: "gemm_cpu", Args: gemmArgs},
}

package onnx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	pb "github.com/mtl-gpu/mtl-gpu/onnx/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// The versions a file declares: IR version 8 with opset 17 of the default
// domain and opset 3 of ai.onnx.ml, which ONNX 1.12 checks and every
// current runtime runs.
const (
	IRVersion = 8
	Opset     = 17
	MLOpset   = 3
)

// Model is what Export writes: the preprocessing of a model file and the
// networks whose outputs are averaged (one for a single model; the
// members of an ensemble or the models of cross-validation folds).
type Model struct {
	Schema  *data.Schema
	Members []*mtl.Model
	// Metadata are extra metadata_props of the file (say, the model's
	// description as JSON).
	Metadata map[string]string
	// Producer names the program writing the file, with its version.
	Producer, ProducerVersion string
	// Blocks are the prefixes of NumPy feature matrices joined to the
	// data: the numeric columns PREFIX[0], PREFIX[1], … are read from one
	// [N, d] double input named PREFIX (d = the largest index the model
	// reads, plus one) rather than from one input per column.
	Blocks []string
}

// ProbabilitiesSuffix ends the name of a classification task's
// probabilities output: TASK:probabilities.
const ProbabilitiesSuffix = ":probabilities"

// Export builds the ONNX model of m and returns it serialised.
func Export(m Model) ([]byte, error) {
	mp, err := build(m)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(mp)
}

// Write writes the ONNX model of m to w.
func Write(w io.Writer, m Model) error {
	b, err := Export(m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// InputInfo describes a graph input, as the metadata lists it.
type InputInfo struct {
	// Name is the column name, which is also the tensor's.
	Name string `json:"name"`
	// Kind is "numeric", "categorical" (one-hot), "embedded" (a row of
	// an embedding table), "block" (the columns of a NumPy feature file)
	// or "group".
	Kind string `json:"kind"`
	// Tensor is the element type: "double" or "string"; the shape is
	// [N, 1], or [N, Columns] for a block.
	Tensor string `json:"tensor"`
	// Columns is the width of a block (Kind "block"): column i holds
	// PREFIX[i], the block's name being PREFIX.
	Columns int `json:"columns,omitempty"`
}

// block is where a numeric column sits in a block input.
type block struct {
	name         string
	index, width int
}

// blockOf maps every numeric feature named PREFIX[i], for a prefix of
// blocks, to its block and column, and gives each block its width.
func blockOf(s *data.Schema, blocks []string) map[string]block {
	out := map[string]block{}
	width := map[string]int{}
	for _, f := range s.Features {
		if f.Kind != data.Numeric || !strings.HasSuffix(f.Name, "]") {
			continue
		}
		for _, prefix := range blocks {
			rest, ok := strings.CutPrefix(f.Name, prefix+"[")
			if !ok {
				continue
			}
			i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
			if err != nil || i < 0 || strconv.Itoa(i)+"]" != rest {
				continue
			}
			out[f.Name] = block{name: prefix, index: i}
			width[prefix] = max(width[prefix], i+1)
		}
	}
	for name, b := range out {
		b.width = width[b.name]
		out[name] = b
	}
	return out
}

// OutputInfo describes the outputs of one task, as the metadata lists
// them.
type OutputInfo struct {
	Task string `json:"task"`
	Type string `json:"type"`
	// Label names the [N] string tensor of predicted classes and
	// Probabilities the [N, K] float tensor of class probabilities, in
	// the order of Classes (classification).
	Label         string   `json:"label,omitempty"`
	Probabilities string   `json:"probabilities,omitempty"`
	Classes       []string `json:"classes,omitempty"`
	// Value names the [N, 1] double tensor of predicted values
	// (regression).
	Value string `json:"value,omitempty"`
}

// Inputs lists the graph inputs of a model with this schema and these
// blocks (see Model.Blocks): its features in order (a block where its
// first column is), then the group column.
func Inputs(s *data.Schema, blocks ...string) []InputInfo {
	var in []InputInfo
	inBlock := blockOf(s, blocks)
	seen := map[string]bool{}
	for _, f := range s.Features {
		if b, ok := inBlock[f.Name]; ok {
			if !seen[b.name] {
				seen[b.name] = true
				in = append(in, InputInfo{Name: b.name, Kind: "block", Tensor: "double", Columns: b.width})
			}
			continue
		}
		switch f.Kind {
		case data.Categorical:
			in = append(in, InputInfo{Name: f.Name, Kind: "categorical", Tensor: "string"})
		case data.Embedded:
			in = append(in, InputInfo{Name: f.Name, Kind: "embedded", Tensor: "string"})
		default:
			in = append(in, InputInfo{Name: f.Name, Kind: "numeric", Tensor: "double"})
		}
	}
	if s.GroupColumn != "" {
		in = append(in, InputInfo{Name: s.GroupColumn, Kind: "group", Tensor: "string"})
	}
	return in
}

// Outputs lists the graph outputs of a model with this schema, per task.
func Outputs(s *data.Schema) []OutputInfo {
	var out []OutputInfo
	for _, t := range s.Targets {
		o := OutputInfo{Task: t.Name, Type: t.Type.String()}
		if t.Type == data.Regression {
			o.Value = t.Name
		} else {
			o.Label, o.Probabilities, o.Classes = t.Name, t.Name+ProbabilitiesSuffix, t.Classes
		}
		out = append(out, o)
	}
	return out
}

// build writes the graph:
//
//	inputs → preprocessing (features → X and table rows, group → one-hot)
//	→ per member: X and the rows' embeddings → the body (shared layers,
//	or levels of experts and gates) → logits → each task's head and link
//	→ mean over members → outputs (probabilities, labels, values)
func build(m Model) (*pb.ModelProto, error) {
	if err := Supported(m); err != nil {
		return nil, err
	}
	s := m.Schema
	b := newGraph("mtl-gpu")
	inputs, outputs := Inputs(s, m.Blocks...), Outputs(s)
	for _, in := range inputs {
		if err := b.reserve(in.Name); err != nil {
			return nil, err
		}
	}
	for _, o := range outputs {
		for _, name := range []string{o.Label, o.Probabilities, o.Value} {
			if name == "" {
				continue
			}
			if err := b.reserve(name); err != nil {
				return nil, err
			}
		}
	}
	x, rows := b.features(s, blockOf(s, m.Blocks))
	var group string
	if s.GroupColumn != "" {
		b.input(s.GroupColumn, pb.TensorProto_STRING, rowsDim, 1)
		onehot := b.oneHot("group", b.index("group/index", s.GroupColumn, s.Groups), len(s.Groups), pb.TensorProto_DOUBLE)
		group = b.node("Unsqueeze", "group/mask", []string{onehot, b.ints("group/axis", 2)})
	}
	perMember := make([][]string, len(m.Members))
	for i, member := range m.Members {
		var err error
		if perMember[i], err = b.member(fmt.Sprintf("m%d", i), member, x, rows, group); err != nil {
			return nil, err
		}
	}
	for t := range s.Targets {
		outs := make([]string, len(perMember))
		for i := range perMember {
			outs[i] = perMember[i][t]
		}
		avg := outs[0]
		if len(outs) > 1 {
			// Sum and divide: ONNX Runtime has no Mean for double.
			hint := s.Targets[t].Name + "/mean"
			for _, o := range outs[1:] {
				avg = b.node("Add", hint+"/sum", []string{avg, o})
			}
			avg = b.node("Div", hint, []string{avg, b.scalarDouble(hint+"/members", float64(len(outs)))})
		}
		b.taskOutputs(s.Targets[t], outputs[t], avg)
	}
	return b.model(m, inputs, outputs)
}

// tableRows is the row of an embedded column's table each row of the
// input reads: an [N] int64 tensor.
type tableRows struct {
	column, rows string
}

// features preprocesses every feature column as data.Schema.Encode does
// and returns X, the [N, D] float matrix of dense inputs ("" when there
// is none), and the table rows of each embedded column, in order.
func (b *graph) features(s *data.Schema, blocks map[string]block) (string, []tableRows) {
	var cols []string
	var rows []tableRows
	declared := map[string]bool{}
	for _, f := range s.Features {
		hint := "features/" + f.Name
		if f.Kind == data.Embedded {
			b.input(f.Name, pb.TensorProto_STRING, rowsDim, 1)
			rows = append(rows, tableRows{f.Name, b.tableRow(hint, f.Name, f.Categories)})
			continue
		}
		if f.Kind == data.Categorical {
			b.input(f.Name, pb.TensorProto_STRING, rowsDim, 1)
			cols = append(cols, b.oneHot(hint, b.index(hint+"/index", f.Name, f.Categories), len(f.Categories), pb.TensorProto_FLOAT))
			continue
		}
		x := f.Name
		if bl, ok := blocks[f.Name]; ok {
			if !declared[bl.name] {
				declared[bl.name] = true
				b.input(bl.name, pb.TensorProto_DOUBLE, rowsDim, dim(bl.width))
			}
			x = b.slice(hint+"/column", bl.name, bl.index, bl.index+1)
		} else {
			b.input(f.Name, pb.TensorProto_DOUBLE, rowsDim, 1)
		}
		cols = append(cols, b.cast(hint+"/float", b.numeric(hint, x, f, s.Impute == "mean"), pb.TensorProto_FLOAT))
		if f.Indicator {
			// 1 where the value is missing (and imputed), else 0.
			cols = append(cols, b.cast(hint+"/indicator", b.node("IsNaN", hint+"/is_missing", []string{x}), pb.TensorProto_FLOAT))
		}
	}
	switch len(cols) {
	case 0:
		return "", rows
	case 1:
		return cols[0], rows
	}
	return b.node("Concat", "features/x", cols, attrInt("axis", 1)), rows
}

// tableRow maps the strings of x ([N, 1]) to their rows of an embedded
// column's table, as data does: vocabulary value k is row k+1, and any
// other value row 0 ("other"). It returns an [N] int64 tensor.
func (b *graph) tableRow(hint, x string, vocabulary []string) string {
	var row string
	if len(vocabulary) == 0 {
		// Every value is "other".
		row = b.node("ConstantOfShape", hint+"/other", []string{b.node("Shape", hint+"/shape", []string{x})},
			attrTensor("value", &pb.TensorProto{Dims: []int64{1}, DataType: elemType(pb.TensorProto_INT64), Int64Data: []int64{0}}))
	} else {
		rows := make([]int64, len(vocabulary))
		for k := range rows {
			rows[k] = int64(k + 1)
		}
		row = b.domainNode(mlDomain, "LabelEncoder", hint+"/row", []string{x},
			attrStrings("keys_strings", vocabulary), attrInts("values_int64s", rows), attrInt("default_int64", 0))
	}
	return b.node("Reshape", hint+"/rows", []string{row, b.ints(hint+"/flat", -1)})
}

// numeric encodes a numeric column x ([N, 1] double) as data's encoders
// do, in double, with the same operations in the same order, and returns
// the encoded columns in double: [N, 1], or [N, K] for K PLE bins.
func (b *graph) numeric(hint, x string, f data.Feature, impute bool) string {
	if f.Method() == data.Standard {
		// (x − mean)/scale; a missing value (NaN) is the training mean,
		// 0 once standardised.
		z := b.node("Div", hint+"/standardised", []string{
			b.node("Sub", hint+"/centred", []string{x, b.scalarDouble(hint+"/mean", f.Mean)}),
			b.scalarDouble(hint+"/scale", f.Scale),
		})
		if impute {
			z = b.node("Where", hint+"/imputed", []string{
				b.node("IsNaN", hint+"/missing", []string{x}), b.scalarDouble(hint+"/zero", 0), z,
			})
		}
		return z
	}
	if impute {
		// A missing value (NaN) is the training mean, then encoded.
		x = b.node("Where", hint+"/imputed", []string{
			b.node("IsNaN", hint+"/missing", []string{x}), b.scalarDouble(hint+"/mean", f.Mean), x,
		})
	}
	edges := f.Edges
	widths := make([]float64, 0, len(edges))
	for i := 1; i < len(edges); i++ {
		widths = append(widths, edges[i]-edges[i-1])
	}
	switch f.Method() {
	case data.RobustPLE:
		// The robust column, then the bins.
		return b.node("Concat", hint+"/robust_ple", []string{b.robust(hint, x, f), b.ple(hint, x, edges, widths)}, attrInt("axis", 1))
	case data.Robust:
		return b.robust(hint, x, f)
	case data.PLE:
		return b.ple(hint, x, edges, widths)
	default: // data.Quantile
		return b.interpolate(hint, x, f, widths)
	}
}

// interpolate writes a Quantile column's piecewise-linear map: on segment
// i, the number of inner knots at most x, scores_i + t·(scores_{i+1} −
// scores_i) with t = clip((x − knot_i)/(knot_{i+1} − knot_i), 0, 1).
func (b *graph) interpolate(hint, x string, f data.Feature, widths []float64) string {
	m := len(widths)
	rises := make([]float64, m)
	for i := range rises {
		rises[i] = f.Scores[i+1] - f.Scores[i]
	}
	pick := func(name string, table []float64) string { return b.scalarDouble(hint+"/"+name, table[0]) }
	if m > 1 {
		below := b.node("LessOrEqual", hint+"/passed", []string{b.doubles(hint+"/inner_knots", []int{1, m - 1}, f.Edges[1:m]), x})
		seg := b.node("ReduceSum", hint+"/segment", []string{b.cast(hint+"/passed_int", below, pb.TensorProto_INT64), b.ints(hint+"/axis", 1)}, attrInt("keepdims", 1))
		pick = func(name string, table []float64) string {
			return b.node("Gather", hint+"/"+name, []string{b.doubles(hint+"/"+name+"_table", []int{m}, table), seg})
		}
	}
	t := b.clip(hint+"/t", b.node("Div", hint+"/fraction", []string{
		b.node("Sub", hint+"/from_knot", []string{x, pick("knot", f.Edges[:m])}),
		pick("width", widths),
	}), 0, 1)
	return b.node("Add", hint+"/score", []string{pick("base", f.Scores[:m]), b.node("Mul", hint+"/rise_part", []string{t, pick("rise", rises)})})
}

// member writes one network: the body's input (X, then the row of each
// table), the body, the logits of every head, and each task's decoded
// output in double (probabilities [N, K], the probability of the positive
// class [N, 1], or the value [N, 1]).
func (b *graph) member(prefix string, m *mtl.Model, x string, rows []tableRows, group string) ([]string, error) {
	p := m.Parts()
	if err := architectureSupported(p.Architecture); err != nil {
		return nil, err
	}
	if len(rows) != len(p.Tables) {
		return nil, errors.New("export: the network does not fit the preprocessing")
	}
	in := x
	if len(p.Tables) > 0 {
		var cols []string
		if x != "" {
			cols = append(cols, x)
		}
		for j, tb := range p.Tables {
			hint := prefix + "/embedding/" + rows[j].column
			table := b.floats(hint+"/table", []int{tb.Rows, tb.Dim}, tb.Data)
			cols = append(cols, b.node("Gather", hint, []string{table, rows[j].rows}, attrInt("axis", 0)))
		}
		in = cols[0]
		if len(cols) > 1 {
			in = b.node("Concat", prefix+"/input", cols, attrInt("axis", 1))
		}
	}
	c := len(p.HeadBias)
	var logits func(t, lo, hi int) string
	if p.Architecture == mtl.SharedBottom {
		// One GEMM computes every head's logits from H_L.
		h := b.trunk(prefix, p, in)
		k := len(p.Heads) / max(c, 1)
		z := b.node("Gemm", prefix+"/logits", []string{h, b.floats(prefix+"/heads", []int{c, k}, p.Heads), b.floats(prefix+"/head_bias", []int{c}, p.HeadBias)}, attrInt("transB", 1))
		z = b.cast(prefix+"/logits_double", z, pb.TensorProto_DOUBLE)
		logits = func(t, lo, hi int) string {
			return b.slice(fmt.Sprintf("%s/%s/logits_%d_%d", prefix, m.Spec.Tasks[t].Name, lo, hi), z, lo, hi)
		}
	} else {
		// Each task's head reads its own mixture.
		reps := b.mixtures(prefix, p, in)
		k := len(p.Heads) / max(c, 1)
		logits = func(t, lo, hi int) string {
			hint := fmt.Sprintf("%s/%s/logits_%d_%d", prefix, m.Spec.Tasks[t].Name, lo, hi)
			z := b.node("Gemm", hint, []string{reps[t], b.floats(hint+"/heads", []int{hi - lo, k}, p.Heads[lo*k:hi*k]), b.floats(hint+"/bias", []int{hi - lo}, p.HeadBias[lo:hi])}, attrInt("transB", 1))
			return b.cast(hint+"/double", z, pb.TensorProto_DOUBLE)
		}
	}
	var outs []string
	for t, task := range m.Spec.Tasks {
		hint := prefix + "/" + task.Name
		n := task.Outputs()
		logit := logits(t, p.Col[t], p.Col[t]+n)
		if task.Groups > 0 {
			// The row's group head: the shared head plus the group's
			// deviation, picked by the one-hot group mask (all zeros,
			// so the shared head alone, for an unseen group).
			dev := logits(t, p.DevCol[t], p.DevCol[t]+task.Groups*n)
			dev = b.node("Reshape", hint+"/by_group", []string{dev, b.ints(hint+"/shape", 0, int64(task.Groups), int64(n))})
			picked := b.node("ReduceSum", hint+"/deviation", []string{
				b.node("Mul", hint+"/masked", []string{dev, group}), b.ints(hint+"/group_axis", 1),
			}, attrInt("keepdims", 0))
			logit = b.node("Add", hint+"/group_logit", []string{logit, picked})
		}
		switch task.Type {
		case mtl.Multiclass:
			outs = append(outs, b.node("Softmax", hint+"/probabilities", []string{logit}, attrInt("axis", -1)))
		case mtl.Binary:
			outs = append(outs, b.node("Sigmoid", hint+"/probability", []string{logit}))
		case mtl.Regression:
			v := b.node("Mul", hint+"/scaled", []string{logit, b.scalarDouble(hint+"/std", task.Std)})
			outs = append(outs, b.node("Add", hint+"/value", []string{v, b.scalarDouble(hint+"/target_mean", task.Mean)}))
		}
	}
	return outs, nil
}

// trunk writes the shared layers and returns H_L.
func (b *graph) trunk(prefix string, p mtl.Parts, x string) string {
	h := x
	for i, l := range p.Shared {
		h = b.layer(fmt.Sprintf("%s/layer%d", prefix, i+1), h, l, p.Activation)
	}
	return h
}

// layer writes φ(h·W + c).
func (b *graph) layer(hint, h string, l mtl.Dense, act backend.Activation) string {
	h = b.node("Gemm", hint+"/linear", []string{h, b.floats(hint+"/weights", []int{l.In, l.Out}, l.W), b.floats(hint+"/bias", []int{l.Out}, l.Bias)})
	switch act {
	case backend.ReLU:
		h = b.node("Relu", hint+"/relu", []string{h})
	case backend.Tanh:
		h = b.node("Tanh", hint+"/tanh", []string{h})
	}
	return h
}

// mixtures writes a mixture-of-experts body level by level (see
// mtl.Level) and returns each task's mixture of the last level:
//
//	H_e = the expert's layers on its input
//	G_q = softmax(X_q·V_q + g_q)
//	F_q = Σ_s G_q[:, s]·H_{e(s)}, slots in order
func (b *graph) mixtures(prefix string, p mtl.Parts, x string) []string {
	var below []string
	for l, lv := range p.Levels {
		input := func(q int) string {
			if l == 0 {
				return x
			}
			return below[q]
		}
		level := fmt.Sprintf("%s/level%d", prefix, l+1)
		experts := make([]string, len(lv.Experts))
		for e, ex := range lv.Experts {
			h := input(ex.Input)
			for i, ly := range ex.Layers {
				h = b.layer(fmt.Sprintf("%s/expert%d/layer%d", level, e+1, i+1), h, ly, p.Activation)
			}
			experts[e] = h
		}
		mix := make([]string, len(lv.Gates))
		for q, g := range lv.Gates {
			hint := fmt.Sprintf("%s/gate%d", level, q+1)
			gates := b.node("Softmax", hint+"/softmax", []string{
				b.node("Gemm", hint+"/linear", []string{input(g.Input), b.floats(hint+"/weights", []int{g.In, g.Out}, g.W), b.floats(hint+"/bias", []int{g.Out}, g.Bias)}),
			}, attrInt("axis", -1))
			for s, e := range g.Experts {
				term := b.node("Mul", fmt.Sprintf("%s/slot%d", hint, s+1), []string{b.slice(fmt.Sprintf("%s/weight%d", hint, s+1), gates, s, s+1), experts[e]})
				if s == 0 {
					mix[q] = term
					continue
				}
				mix[q] = b.node("Add", hint+"/mixture", []string{mix[q], term})
			}
		}
		below = mix
	}
	return below
}

// taskOutputs writes a task's outputs from its decoded (averaged) output.
func (b *graph) taskOutputs(tg data.Target, o OutputInfo, out string) {
	hint := "outputs/" + tg.Name
	switch tg.Type {
	case data.Regression:
		if tg.Offset != 0 {
			// The labels were centred on the offset (see data.Target):
			// the value is the network's plus the offset, in double.
			out = b.node("Add", hint+"/value", []string{out, b.scalarDouble(hint+"/offset", tg.Offset)})
		}
		b.output(o.Value, out, pb.TensorProto_DOUBLE, rowsDim, 1)
		return
	case data.Binary:
		// [1 − p, p], and the positive class when p ≥ 0.5 (at p rounded
		// to float, as predict decides).
		neg := b.node("Sub", hint+"/negative", []string{b.scalarDouble(hint+"/one", 1), out})
		probs := b.cast(hint+"/probabilities", b.node("Concat", hint+"/pair", []string{neg, out}, attrInt("axis", 1)), pb.TensorProto_FLOAT)
		pos := b.node("GreaterOrEqual", hint+"/positive", []string{b.cast(hint+"/p_float", out, pb.TensorProto_FLOAT), b.scalarFloat(hint+"/half", 0.5)})
		idx := b.node("Reshape", hint+"/class", []string{b.cast(hint+"/class_2d", pos, pb.TensorProto_INT64), b.ints(hint+"/flat", -1)})
		b.output(o.Label, b.labels(hint+"/label", idx, tg.Classes), pb.TensorProto_STRING, rowsDim)
		b.output(o.Probabilities, probs, pb.TensorProto_FLOAT, rowsDim, dim(len(tg.Classes)))
	default:
		probs := b.cast(hint+"/probabilities", out, pb.TensorProto_FLOAT)
		// The first most probable class, as predict picks it.
		idx := b.node("ArgMax", hint+"/class", []string{probs}, attrInt("axis", 1), attrInt("keepdims", 0), attrInt("select_last_index", 0))
		b.output(o.Label, b.labels(hint+"/label", idx, tg.Classes), pb.TensorProto_STRING, rowsDim)
		b.output(o.Probabilities, probs, pb.TensorProto_FLOAT, rowsDim, dim(len(tg.Classes)))
	}
}

// model wraps the graph with the opsets and the metadata: the inputs and
// outputs, the task, class and column names, and the caller's entries.
func (b *graph) model(m Model, inputs []InputInfo, outputs []OutputInfo) (*pb.ModelProto, error) {
	meta := map[string]string{}
	maps.Copy(meta, m.Metadata)
	in, err := json.Marshal(inputs)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(outputs)
	if err != nil {
		return nil, err
	}
	meta["mtl-gpu.inputs"], meta["mtl-gpu.outputs"] = string(in), string(out)
	meta["mtl-gpu.members"] = strconv.Itoa(len(m.Members))
	var props []*pb.StringStringEntryProto
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		props = append(props, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(meta[k])})
	}
	b.g.DocString = proto.String("Multi-task model: preprocessing, the body and one head per task. " +
		"Inputs are [N, 1] tensors named as the columns: double for numeric columns (NaN for a missing value; " +
		"the columns PREFIX[i] of a NumPy feature file are one [N, d] double input named PREFIX), " +
		"string for categorical and embedded ones and the group column (trimmed; a categorical value unseen in training is all zeros, " +
		"an embedded one takes the table's row 0, an unseen group uses the shared head).")
	return &pb.ModelProto{
		IrVersion:       proto.Int64(IRVersion),
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}, {Domain: proto.String(mlDomain), Version: proto.Int64(MLOpset)}},
		ProducerName:    proto.String(m.Producer),
		ProducerVersion: proto.String(m.ProducerVersion),
		Graph:           b.g,
		MetadataProps:   props,
	}, nil
}

// robust writes a column's robust scaling: u = (x − centre)/scale,
// clamped to ±1e150, then u/√(1 + (u/3)²).
func (b *graph) robust(hint, x string, f data.Feature) string {
	u := b.node("Div", hint+"/scaled", []string{
		b.node("Sub", hint+"/centred", []string{x, b.scalarDouble(hint+"/center", f.Center)}),
		b.scalarDouble(hint+"/scale", f.Scale),
	})
	u = b.clip(hint+"/bounded", u, -1e150, 1e150)
	t := b.node("Div", hint+"/third", []string{u, b.scalarDouble(hint+"/three", 3)})
	root := b.node("Sqrt", hint+"/root", []string{
		b.node("Add", hint+"/one_plus", []string{b.scalarDouble(hint+"/one", 1), b.node("Mul", hint+"/square", []string{t, t})}),
	})
	return b.node("Div", hint+"/clipped", []string{u, root})
}

// ple writes a column's PLE bins: bin i is clip((x − e_i)/(e_{i+1} −
// e_i), 0, 1), all bins at once.
func (b *graph) ple(hint, x string, edges, widths []float64) string {
	k := len(widths)
	frac := b.node("Div", hint+"/bins", []string{
		b.node("Sub", hint+"/from_edges", []string{x, b.doubles(hint+"/edges", []int{1, k}, edges[:k])}),
		b.doubles(hint+"/widths", []int{1, k}, widths),
	})
	return b.clip(hint+"/ple", frac, 0, 1)
}

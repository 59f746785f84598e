package onnx

import (
	"fmt"

	pb "github.com/mtl-gpu/mtl-gpu/onnx/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// mlDomain is the domain of the classical machine-learning operators
// (LabelEncoder).
const mlDomain = "ai.onnx.ml"

// graph builds a GraphProto node by node. Every value it creates gets a
// name of its own that no input or output column can take: names the
// caller reserves (the columns and outputs) are never reused.
type graph struct {
	g    *pb.GraphProto
	used map[string]bool
}

func newGraph(name string) *graph {
	return &graph{g: &pb.GraphProto{Name: proto.String(name)}, used: map[string]bool{}}
}

// reserve claims a name for a graph input or output; it fails when the
// name is taken.
func (b *graph) reserve(name string) error {
	if b.used[name] {
		return fmt.Errorf("the name %q would name two inputs or outputs of the graph", name)
	}
	b.used[name] = true
	return nil
}

// fresh returns an unused name built from hint.
func (b *graph) fresh(hint string) string {
	name := "/" + hint
	for i := 1; b.used[name]; i++ {
		name = fmt.Sprintf("/%s_%d", hint, i)
	}
	b.used[name] = true
	return name
}

// node adds an operator of the default domain with one output named
// from hint, and returns that output.
func (b *graph) node(op, hint string, inputs []string, attrs ...*pb.AttributeProto) string {
	return b.domainNode("", op, hint, inputs, attrs...)
}

// domainNode adds an operator of a domain with one output.
func (b *graph) domainNode(domain, op, hint string, inputs []string, attrs ...*pb.AttributeProto) string {
	out := b.fresh(hint)
	b.nodeTo(domain, op, out, inputs, attrs...)
	return out
}

// nodeTo adds an operator whose output has the given (reserved) name.
func (b *graph) nodeTo(domain, op, out string, inputs []string, attrs ...*pb.AttributeProto) {
	n := &pb.NodeProto{
		OpType:    proto.String(op),
		Name:      proto.String(fmt.Sprintf("%s_%d", op, len(b.g.Node))),
		Input:     inputs,
		Output:    []string{out},
		Attribute: attrs,
	}
	if domain != "" {
		n.Domain = proto.String(domain)
	}
	b.g.Node = append(b.g.Node, n)
}

// initializer adds a constant tensor and returns its name.
func (b *graph) initializer(hint string, t *pb.TensorProto) string {
	t.Name = proto.String(b.fresh(hint))
	b.g.Initializer = append(b.g.Initializer, t)
	return t.GetName()
}

func int64Dims(dims []int) []int64 {
	out := make([]int64, len(dims))
	for i, d := range dims {
		out[i] = int64(d)
	}
	return out
}

func elemType(t pb.TensorProto_DataType) *int32 { return proto.Int32(int32(t)) }

// floats adds a float constant of the given shape.
func (b *graph) floats(hint string, dims []int, v []float32) string {
	return b.initializer(hint, &pb.TensorProto{Dims: int64Dims(dims), DataType: elemType(pb.TensorProto_FLOAT), FloatData: v})
}

// ints adds a 1-D int64 constant.
func (b *graph) ints(hint string, v ...int64) string {
	return b.initializer(hint, &pb.TensorProto{Dims: []int64{int64(len(v))}, DataType: elemType(pb.TensorProto_INT64), Int64Data: v})
}

// scalarDouble adds a double scalar.
func (b *graph) scalarDouble(hint string, v float64) string {
	return b.initializer(hint, &pb.TensorProto{DataType: elemType(pb.TensorProto_DOUBLE), DoubleData: []float64{v}})
}

// doubles adds a double constant of the given shape.
func (b *graph) doubles(hint string, dims []int, v []float64) string {
	return b.initializer(hint, &pb.TensorProto{Dims: int64Dims(dims), DataType: elemType(pb.TensorProto_DOUBLE), DoubleData: v})
}

// scalarFloat adds a float scalar.
func (b *graph) scalarFloat(hint string, v float32) string {
	return b.initializer(hint, &pb.TensorProto{DataType: elemType(pb.TensorProto_FLOAT), FloatData: []float32{v}})
}

// dim is a tensor dimension: a fixed size, or the row count N when
// negative.
type dim int

const rowsDim dim = -1

// valueInfo describes a graph input or output.
func valueInfo(name string, t pb.TensorProto_DataType, dims ...dim) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		if d < 0 {
			shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}})
			continue
		}
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &pb.ValueInfoProto{
		Name: proto.String(name),
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: elemType(t), Shape: shape}}},
	}
}

// input declares a graph input (its name reserved beforehand).
func (b *graph) input(name string, t pb.TensorProto_DataType, dims ...dim) {
	b.g.Input = append(b.g.Input, valueInfo(name, t, dims...))
}

// output declares a graph output and makes value its content.
func (b *graph) output(name, value string, t pb.TensorProto_DataType, dims ...dim) {
	b.nodeTo("", "Identity", name, []string{value})
	b.g.Output = append(b.g.Output, valueInfo(name, t, dims...))
}

// Attributes.

func attrInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v []int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}
}

func attrTensor(name string, v *pb.TensorProto) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_TENSOR.Enum(), T: v}
}

func attrString(name, v string) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func attrStrings(name string, v []string) *pb.AttributeProto {
	bs := make([][]byte, len(v))
	for i, s := range v {
		bs[i] = []byte(s)
	}
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRINGS.Enum(), Strings: bs}
}

// Operators used more than once.

// cast converts x to type t.
func (b *graph) cast(hint, x string, t pb.TensorProto_DataType) string {
	return b.node("Cast", hint, []string{x}, attrInt("to", int64(t)))
}

// index maps the strings of x ([N,1]) to their position in keys, and any
// other string to −1, with ai.onnx.ml LabelEncoder.
func (b *graph) index(hint, x string, keys []string) string {
	values := make([]int64, len(keys))
	for i := range values {
		values[i] = int64(i)
	}
	return b.domainNode(mlDomain, "LabelEncoder", hint, []string{x},
		attrStrings("keys_strings", keys), attrInts("values_int64s", values), attrInt("default_int64", -1))
}

// oneHot turns indices ([N,1] int64, −1 for none) into [N,K] one-hot rows
// of type t, all zeros for −1.
func (b *graph) oneHot(hint, idx string, k int, t pb.TensorProto_DataType) string {
	r := make([]int64, k)
	for i := range r {
		r[i] = int64(i)
	}
	eq := b.node("Equal", hint+"/match", []string{idx, b.ints(hint+"/positions", r...)})
	return b.cast(hint+"/onehot", eq, t)
}

// labels maps class indices ([N] int64) to the class names.
func (b *graph) labels(hint, idx string, classes []string) string {
	keys := make([]int64, len(classes))
	for i := range keys {
		keys[i] = int64(i)
	}
	return b.domainNode(mlDomain, "LabelEncoder", hint, []string{idx},
		attrInts("keys_int64s", keys), attrStrings("values_strings", classes), attrString("default_string", ""))
}

// clip bounds the doubles of x to [lo, hi].
func (b *graph) clip(hint, x string, lo, hi float64) string {
	return b.node("Clip", hint, []string{x, b.scalarDouble(hint+"/min", lo), b.scalarDouble(hint+"/max", hi)})
}

// slice takes columns [lo, hi) of a matrix.
func (b *graph) slice(hint, x string, lo, hi int) string {
	return b.node("Slice", hint, []string{x, b.ints(hint+"/start", int64(lo)), b.ints(hint+"/end", int64(hi)), b.ints(hint+"/axis", 1)})
}

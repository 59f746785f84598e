package onnx_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/onnx"
	pb "github.com/mtl-gpu/mtl-gpu/onnx/internal/onnxpb"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"google.golang.org/protobuf/proto"
)

// TestExportDeclaresItself reads an exported file back: the IR version
// and opsets, one input per column with its type, the outputs, and the
// task, class and column names in the metadata.
func TestExportDeclaresItself(t *testing.T) {
	dir := t.TempDir()
	trainFile, _ := writeGenerated(t, dir, generated{name: "meta", impute: true})
	o := pipeline.DefaultOptions()
	o.Data, o.Out, o.Impute, o.Train.Epochs = trainFile, filepath.Join(dir, "m.mtl"), "mean", 1
	o.Tasks = []string{"y:regression", "flag:binary", "kind:multiclass"}
	o.GroupColumn = "site"
	m := train(t, cpuBackend(t), o)
	file := filepath.Join(dir, "m.onnx")
	if err := m.ExportONNX(file); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var mp pb.ModelProto
	if err := proto.Unmarshal(raw, &mp); err != nil {
		t.Fatal(err)
	}
	if mp.GetIrVersion() != 8 || mp.GetProducerName() != "mtl-gpu" {
		t.Errorf("IR version %d, producer %q", mp.GetIrVersion(), mp.GetProducerName())
	}
	opsets := map[string]int64{}
	for _, o := range mp.GetOpsetImport() {
		opsets[o.GetDomain()] = o.GetVersion()
	}
	if len(opsets) != 2 || opsets[""] != 17 || opsets["ai.onnx.ml"] != 3 {
		t.Errorf("opsets %v", opsets)
	}

	type io struct{ name, elem string }
	var inputs, outputs []io
	elem := func(v *pb.ValueInfoProto) string {
		return pb.TensorProto_DataType(v.GetType().GetTensorType().GetElemType()).String()
	}
	for _, v := range mp.GetGraph().GetInput() {
		inputs = append(inputs, io{v.GetName(), elem(v)})
	}
	for _, v := range mp.GetGraph().GetOutput() {
		outputs = append(outputs, io{v.GetName(), elem(v)})
	}
	wantIn := []io{{"x1", "DOUBLE"}, {"x2", "DOUBLE"}, {"stamp", "DOUBLE"}, {"colour", "STRING"}, {"site", "STRING"}}
	wantOut := []io{{"y", "DOUBLE"}, {"flag", "STRING"}, {"flag:probabilities", "FLOAT"}, {"kind", "STRING"}, {"kind:probabilities", "FLOAT"}}
	if !slices.Equal(inputs, wantIn) || !slices.Equal(outputs, wantOut) {
		t.Errorf("inputs %v, outputs %v;\nwant %v, %v", inputs, outputs, wantIn, wantOut)
	}

	meta := map[string]string{}
	for _, p := range mp.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	var outs []onnx.OutputInfo
	if err := json.Unmarshal([]byte(meta["mtl-gpu.outputs"]), &outs); err != nil {
		t.Fatalf("mtl-gpu.outputs: %v", err)
	}
	if len(outs) != 3 || !slices.Equal(outs[1].Classes, []string{"no", "yes"}) || !slices.Equal(outs[2].Classes, []string{"a", "b", "c", "d"}) ||
		outs[2].Probabilities != "kind:probabilities" || outs[0].Value != "y" {
		t.Errorf("mtl-gpu.outputs: %+v", outs)
	}
	var ins []onnx.InputInfo
	if err := json.Unmarshal([]byte(meta["mtl-gpu.inputs"]), &ins); err != nil || len(ins) != 5 || ins[4] != (onnx.InputInfo{Name: "site", Kind: "group", Tensor: "string"}) {
		t.Errorf("mtl-gpu.inputs: %+v (%v)", ins, err)
	}
	var desc pipeline.Description
	if err := json.Unmarshal([]byte(meta["mtl-gpu.model"]), &desc); err != nil {
		t.Fatalf("mtl-gpu.model: %v", err)
	}
	if len(desc.Tasks) != 3 || !slices.Equal(desc.Tasks[2].Columns, []string{"kind", "kind:p(a)", "kind:p(b)", "kind:p(c)", "kind:p(d)"}) || desc.Tasks[2].Groups != 6 {
		t.Errorf("mtl-gpu.model tasks: %+v", desc.Tasks)
	}
}

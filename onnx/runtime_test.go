package onnx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/onnx"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

// exported is a model exported for a check in ONNX Runtime, with what
// predict writes for its test file.
type exported struct {
	name, file string
	schema     *data.Schema
	// blocks are the prefixes of the model's NumPy feature files; test
	// then holds their columns, PREFIX[0], ….
	blocks []string
	test   string
	want   *predictions
}

// checkAll validates every file with onnx.checker, runs them all in ONNX
// Runtime on their test files and compares every output with predict's.
func checkAll(t *testing.T, models []exported) []session {
	t.Helper()
	var files []string
	var jobs []job
	for _, m := range models {
		files = append(files, m.file)
		jobs = append(jobs, job{Model: m.file, Feeds: feeds(t, m.schema, m.blocks, m.test)})
	}
	checkFiles(t, files...)
	sessions := runAll(t, jobs)
	for i, s := range sessions {
		compare(t, models[i].name, models[i].schema, models[i].blocks, models[i].want, s)
	}
	return sessions
}

// export writes a model's ONNX file, predicts its test file, and returns
// both for checkAll.
func export(t *testing.T, b backend.Backend, name string, m *pipeline.Model, test string) exported {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".onnx")
	if err := m.ExportONNX(file); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return exported{name: name, file: file, schema: m.Schema, test: test, want: predict(t, b, m, test)}
}

// TestONNXRuntimeAgreesWithPredict exports models trained on the shared
// data sets and a generated regression with a target offset of 1e9, runs
// them in ONNX Runtime on the test files and checks that every
// probability, value and label agrees with predict's.
func TestONNXRuntimeAgreesWithPredict(t *testing.T) {
	runtimeDir(t)
	b := cpuBackend(t)
	dir := t.TempDir()
	opts := func(name, train string, tasks ...string) pipeline.Options {
		o := pipeline.DefaultOptions()
		o.Data, o.Out, o.Tasks = train, filepath.Join(dir, name+".mtl"), tasks
		o.Train.Epochs = 3
		// One model with a validation split (checkPrecise reads a single
		// member's parameters).
		o.CV, o.ValSplit, o.Train.Batch = 0, 0.1, 128
		return o
	}
	var models []exported

	// adult: a binary and two multiclass tasks, six categorical columns.
	o := opts("adult", testdata.File(t, "adult/adult_train.csv.gz"), "income_gt_50k:binary", "marital_status:multiclass", "relationship:multiclass")
	models = append(models, export(t, b, "adult", train(t, b, o), testdata.File(t, "adult/adult_test.csv.gz")))

	// School: a regression family, one head per school; the test file
	// renames every seventh row's school to one unseen in training, whose
	// rows take the shared head.
	school := testdata.File(t, "school/school.csv")
	o = opts("school", school, "exam_score:regression")
	o.GroupColumn = "school_id"
	models = append(models, export(t, b, "school", train(t, b, o), unseenSchools(t, school, dir)))

	// emotions: multilabel, six binary tasks, on two tanh layers.
	var labels []string
	for _, l := range []string{"amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still", "sad-lonely", "angry-aggresive"} {
		labels = append(labels, l+":binary")
	}
	o = opts("emotions", testdata.File(t, "emotions/emotions_train.csv"), labels...)
	o.Hidden, o.Activation = []int{32, 16}, backend.Tanh
	models = append(models, export(t, b, "emotions", train(t, b, o), testdata.File(t, "emotions/emotions_test.csv")))

	// adult again with piecewise-linear bins (capital_gain, 0 on most
	// rows, topped up from its distinct values; education_num, with
	// fewer distinct values than bins), and emotions with the quantile
	// encoding (72 maps of hundreds of knots).
	o = opts("adult-ple", testdata.File(t, "adult/adult_train.csv.gz"), "income_gt_50k:binary", "relationship:multiclass")
	o.Numeric = "ple"
	models = append(models, export(t, b, "adult-ple", train(t, b, o), testdata.File(t, "adult/adult_test.csv.gz")))
	o = opts("emotions-quantile", testdata.File(t, "emotions/emotions_train.csv"), labels...)
	o.Numeric = "quantile"
	models = append(models, export(t, b, "emotions-quantile", train(t, b, o), testdata.File(t, "emotions/emotions_test.csv")))

	// A regression whose target and one input sit at 1e9: scaling the
	// input or unscaling the target in float would lose them.
	trainFile, testFile := writeGenerated(t, dir, generated{name: "offset", offset: 1e9, impute: true})
	o = opts("offset", trainFile, "y:regression")
	o.Impute, o.Train.Epochs = "mean", 30
	offset := train(t, b, o)
	if tg := offset.Schema.Targets[0]; tg.Offset+offset.Checkpoint.Model.Spec.Tasks[0].Mean < 0.99e9 {
		t.Fatalf("target offset %g: the generated offset is missing", tg.Offset)
	}
	models = append(models, export(t, b, "offset", offset, testFile))

	sessions := checkAll(t, models)
	checkPrecise(t, offset, testFile, sessions[len(sessions)-1].Outputs["y"])
}

// checkPrecise checks the values of a regression near 1e9 against the
// model computed in float64 from its parameters, to a ten-thousandth of
// the target's standard deviation. The graph reads its inputs, undoes the
// target scaling and adds the target's offset in double, so it must keep
// the digits an input at 1e9 and the offset would lose in float.
func checkPrecise(t *testing.T, m *pipeline.Model, test string, got tensor) {
	t.Helper()
	src, err := data.OpenCSV(test, data.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	encs, _, err := m.Schema.EncodeSource(context.Background(), src, data.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := encs[0]
	model := m.Checkpoint.Model
	task, p := model.Spec.Tasks[0], model.Parts()
	worst := 0.0
	for i := range enc.N {
		h := make([]float64, enc.D)
		for j := range h {
			h[j] = float64(enc.X[i*enc.D+j])
		}
		for _, l := range p.Shared {
			next := make([]float64, l.Out)
			for o := range l.Out {
				s := float64(l.Bias[o])
				for j := range l.In {
					s += h[j] * float64(l.W[j*l.Out+o])
				}
				next[o] = max(s, 0) // ReLU, the default
			}
			h = next
		}
		z := float64(p.HeadBias[p.Col[0]])
		for j, v := range h {
			z += v * float64(p.Heads[p.Col[0]*len(h)+j])
		}
		want := z*task.Std + task.Mean + m.Schema.Targets[0].Offset
		worst = max(worst, math.Abs(number(got.Data[i])-want)/task.Std)
	}
	if model.Spec.Activation != backend.ReLU || len(p.Shared) != 1 || worst > 1e-4 {
		t.Errorf("offset: values differ from the model in float64 by up to %.3g standard deviations (want ≤ 1e-4)", worst)
	}
	t.Logf("offset: values within %.2g standard deviations of the model in float64 (std %.4g)", worst, task.Std)
}

// unseenSchools copies the School file with every seventh row's school
// renamed to one not seen in training.
func unseenSchools(t *testing.T, path, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	for i := 1; i < len(lines); i += 7 {
		_, rest, _ := strings.Cut(lines[i], ",")
		lines[i] = "unseen-school," + rest
	}
	out := filepath.Join(dir, "school_test.csv")
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// generated says how writeGenerated draws its data.
type generated struct {
	// name starts the files' names.
	name string
	// offset is added to the regression target and to the stamp input.
	offset float64
	// impute leaves some numeric inputs missing (the model imputes them).
	impute bool
}

// writeGenerated writes a learnable training and test file: numeric
// inputs (one, stamp, near the offset), a categorical one (with values
// unseen in training in the test file), a group column (with unseen
// groups in the test file), and a regression, a binary and a multiclass
// target. It returns the two paths.
func writeGenerated(t *testing.T, dir string, g generated) (string, string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	write := func(name string, rows int, test bool) string {
		var b bytes.Buffer
		b.WriteString("x1,x2,stamp,colour,site,y,flag,kind\n")
		for range rows {
			x1, x2 := rng.NormFloat64(), rng.NormFloat64()
			stamp := float64(rng.IntN(100000))
			colours := []string{"red", "green", "blue", "?"}
			if test {
				colours = append(colours, "violet")
			}
			colour := colours[rng.IntN(len(colours))]
			site := rng.IntN(6)
			if test && rng.IntN(5) == 0 {
				site = 9 // unseen
			}
			y := g.offset + 100*x1 - 30*x2 + 0.001*stamp + 10*float64(site) + rng.NormFloat64()
			flag := "no"
			if x1+0.5*x2+0.2*float64(site)+0.3*rng.NormFloat64() > 0.5 {
				flag = "yes"
			}
			kind := []string{"a", "b", "c", "d"}[((site+int(2*x2+2))%4+4)%4]
			x1s := strconv.FormatFloat(x1, 'f', 5, 64)
			if g.impute && rng.IntN(10) == 0 {
				x1s = "NA"
			}
			fmt.Fprintf(&b, "%s,%.5f,%.0f,%s,s%d,%.6f,%s,%s\n", x1s, x2, g.offset+stamp, colour, site, y, flag, kind)
		}
		p := filepath.Join(dir, g.name+"-"+name+".csv")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("train", 800, false), write("test", 300, true)
}

// kindCase is one kind of model: how it is trained and what it covers.
type kindCase struct {
	name       string
	hidden     []int
	activation backend.Activation
	impute     bool
	family     bool
	members    int
	numeric    string // the encoding of numeric inputs; empty for the default
	// arch is the body (empty for a shared bottom), with its experts,
	// each task's experts and levels; hidden is then the experts' widths.
	arch                         mtl.Arch
	experts, taskExperts, levels int
	// embed makes columns embeddings (COLUMN:WIDTH); a value seen in
	// fewer than minCount training rows gets no row of its own.
	embed    []string
	minCount int
}

// TestONNXRuntimeEveryKind enumerates every kind of model the project can
// train (architectures, activations, depths, feature encodings, task
// types, imputation, task families, averaged members) and checks that
// each is exported and agrees with predict in ONNX Runtime, or is refused
// by name. The kinds are listed from the packages' own enumerations, so a
// new activation, task type, feature kind or architecture fails here
// until it has a case.
func TestONNXRuntimeEveryKind(t *testing.T) {
	runtimeDir(t)
	cases := []kindCase{
		{name: "linear heads", hidden: nil, activation: backend.Identity, members: 1},
		{name: "identity layer, imputed", hidden: []int{8}, activation: backend.Identity, impute: true, members: 1},
		{name: "relu family", hidden: []int{16}, activation: backend.ReLU, family: true, members: 1},
		{name: "tanh two layers, family, imputed", hidden: []int{12, 6}, activation: backend.Tanh, family: true, impute: true, members: 1},
		{name: "ensemble of two, family", hidden: []int{8}, activation: backend.ReLU, family: true, members: 2},
		{name: "standard", hidden: []int{8}, activation: backend.ReLU, impute: true, members: 1, numeric: "standard"},
		{name: "robust, imputed", hidden: []int{8}, activation: backend.ReLU, impute: true, members: 1, numeric: "robust"},
		{name: "quantile, imputed, family", hidden: []int{8}, activation: backend.ReLU, impute: true, family: true, members: 1, numeric: "quantile"},
		{name: "ple, imputed", hidden: []int{8}, activation: backend.ReLU, impute: true, members: 1, numeric: "ple:8"},
		{name: "ple", hidden: nil, activation: backend.Identity, members: 1, numeric: "ple:3"},
		{name: "robust+ple, imputed", hidden: []int{8}, activation: backend.ReLU, impute: true, members: 1, numeric: "robust+ple:5"},
		{name: "robust+ple", hidden: nil, activation: backend.Identity, members: 1, numeric: "robust+ple"},
		// The sites seen in fewer than 134 training rows (about half of
		// them) share the "other" row with the unseen site and colour of
		// the test file.
		{name: "embeddings", hidden: []int{8}, activation: backend.ReLU, members: 1, embed: []string{"colour:3", "site:2"}, minCount: 134},
		// No value is seen often enough: every row takes the other row.
		{name: "embedding of the other row alone", hidden: nil, activation: backend.Identity, members: 1, embed: []string{"colour:2"}, minCount: 100000},
		{name: "mmoe, family", hidden: []int{6, 4}, activation: backend.ReLU, family: true, members: 1, arch: mtl.MMoE, experts: 3},
		{name: "ple two levels, imputed, embedding", hidden: []int{5}, activation: backend.Tanh, impute: true, members: 1, arch: mtl.PLE, experts: 2, taskExperts: 1, levels: 2, embed: []string{"colour:3"}},
		{name: "ple ensemble of two, no shared experts", hidden: []int{4}, activation: backend.ReLU, members: 2, arch: mtl.PLE, taskExperts: 2, levels: 2},
	}
	b := cpuBackend(t)
	dir := t.TempDir()
	covered := map[string]bool{}
	var models []exported
	for _, c := range cases {
		var members []*pipeline.Model
		var wants []*predictions
		// Members differ by their training seed alone, so that they share
		// the preprocessing.
		trainFile, testFile := writeGenerated(t, dir, generated{name: slug(c.name), impute: c.impute})
		for seed := range uint64(c.members) {
			o := pipeline.DefaultOptions()
			o.Data, o.Out = trainFile, filepath.Join(dir, fmt.Sprintf("%s-%d.mtl", slug(c.name), seed))
			o.Tasks = []string{"y:regression", "flag:binary", "kind:multiclass"}
			o.Hidden, o.Activation, o.Train.Epochs, o.Train.Seed = c.hidden, c.activation, 3, seed
			o.Numeric = c.numeric
			if c.arch != "" {
				o.Arch, o.ExpertHidden, o.Experts, o.TaskExperts, o.Levels = c.arch, c.hidden, c.experts, c.taskExperts, c.levels
			}
			o.Embed, o.MinCount = c.embed, c.minCount
			// One model per seed: the ensemble below is put together
			// from their files.
			o.CV, o.ValSplit, o.Train.Batch = 0, 0.1, 128
			if c.impute {
				o.Impute = "mean"
			} else {
				o.Ignore = []string{"x1"}
			}
			switch {
			case c.family:
				o.GroupColumn = "site"
			case !slices.Contains(c.embed, "site:2"):
				o.Ignore = append(o.Ignore, "site")
			}
			m := train(t, b, o)
			members = append(members, m)
			wants = append(wants, predict(t, b, m, testFile))
		}
		if err := cover(covered, c, members[0]); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.members == 1 {
			models = append(models, export(t, b, c.name, members[0], testFile))
			continue
		}
		// An ensemble averages its members' outputs in the graph: write
		// the members into one file and average predict's outputs.
		om := onnx.Model{Schema: members[0].Schema}
		for _, m := range members {
			om.Members = append(om.Members, m.Checkpoint.Model)
		}
		file := filepath.Join(dir, slug(c.name)+".onnx")
		var buf bytes.Buffer
		if err := onnx.Write(&buf, om); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		models = append(models, exported{name: c.name, file: file, schema: om.Schema, test: testFile, want: average(t, om.Schema, wants)})
	}
	for _, r := range refusedKinds {
		err := r.model(t, b, dir).ExportONNX(filepath.Join(dir, "refused.onnx"))
		var ue *onnx.UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), r.name) {
			t.Errorf("%s: export gave %v, want a refusal naming it", r.kind, err)
		}
		covered[r.kind] = true
	}
	checkCoverage(t, covered)
	checkAll(t, models)
}

// refusedKinds are the kinds of model that export refuses: a model of
// each must get an *onnx.UnsupportedError that names it (for a new
// architecture, say, kind "architecture mmoe" refused with name "mmoe").
var refusedKinds = []struct {
	kind, name string
	model      func(*testing.T, backend.Backend, string) *pipeline.Model
}{
	{"embedding hashed", "hashed embedded columns", hashedModel},
}

// hashedModel is a model with a hashed embedded column, whose rows
// (MurmurHash3 of the value) no ONNX operator computes.
func hashedModel(t *testing.T, b backend.Backend, dir string) *pipeline.Model {
	trainFile, _ := writeGenerated(t, dir, generated{name: "hashed"})
	o := pipeline.DefaultOptions()
	o.Data, o.Out = trainFile, filepath.Join(dir, "hashed.mtl")
	o.Tasks = []string{"y:regression", "flag:binary", "kind:multiclass"}
	o.Ignore, o.Train.Epochs = []string{"x1", "site"}, 1
	o.HashBuckets = []string{"colour:16"}
	m := train(t, b, o)
	for _, f := range m.Schema.Features {
		if f.Kind == data.Embedded && f.Buckets == 16 {
			return m
		}
	}
	t.Fatal("colour is not a hashed embedded column")
	return nil
}

// cover records the kinds a trained model has.
func cover(covered map[string]bool, c kindCase, m *pipeline.Model) error {
	spec := m.Checkpoint.Model.Spec
	p := m.Checkpoint.Model.Parts()
	covered["architecture "+string(p.Architecture)] = true
	covered[fmt.Sprintf("depth %d", min(len(spec.Hidden), 2))] = true
	if len(spec.Hidden) > 0 {
		covered["activation "+spec.Activation.String()] = true
	}
	embedded := 0
	for _, f := range m.Schema.Features {
		covered["feature "+f.Kind.String()] = true
		switch f.Kind {
		case data.Numeric:
			covered["numeric "+string(f.Method())] = true
		case data.Embedded:
			embedded++
			covered["embedding vocabulary"] = true
			if len(f.Categories) == 0 {
				covered["embedding empty vocabulary"] = true
			}
			if f.Name == "site" && (len(f.Categories) == 0 || len(f.Categories) >= 6) {
				return fmt.Errorf("site has %d values of its own, want some of the 6 sites in the other row", len(f.Categories))
			}
		}
	}
	if embedded != len(c.embed) || spec.Arch != c.arch && !(c.arch == "" && spec.Arch == mtl.SharedBottom) {
		return fmt.Errorf("%d embedded columns, architecture %q: not the kind the case describes", embedded, spec.Arch)
	}
	if spec.Arch == mtl.PLE && spec.Levels > 1 {
		covered["levels 2"] = true
	}
	for _, task := range spec.Tasks {
		covered["task "+task.Type.String()] = true
		if task.Groups > 0 {
			covered["family "+task.Type.String()] = true
		}
	}
	covered["impute "+strconv.Quote(m.Schema.Impute)] = true
	covered[fmt.Sprintf("members %d", min(c.members, 2))] = true
	method := data.Standard
	if c.numeric != "" {
		enc, err := data.ParseNumericEncoding(c.numeric)
		if err != nil {
			return err
		}
		method = enc.Method
	}
	for _, f := range m.Schema.Features {
		if f.Kind == data.Numeric && f.Method() != method {
			return fmt.Errorf("feature %q is encoded by %s, not %s", f.Name, f.Method(), method)
		}
	}
	if c.family != (m.Schema.GroupColumn != "") || c.impute != (m.Schema.Impute == "mean") {
		return fmt.Errorf("the model is not the kind the case describes")
	}
	return nil
}

// checkCoverage lists every kind from the packages' enumerations and
// checks that a case exported it.
func checkCoverage(t *testing.T, covered map[string]bool) {
	t.Helper()
	var kinds []string
	for _, a := range mtl.Archs {
		kinds = append(kinds, "architecture "+string(a))
	}
	for i := 0; ; i++ {
		a := backend.Activation(i)
		if parsed, err := backend.ParseActivation(a.String()); err != nil || parsed != a {
			break
		}
		kinds = append(kinds, "activation "+a.String())
	}
	for i := 0; ; i++ {
		k := data.FeatureKind(i)
		if _, err := k.MarshalText(); err != nil {
			break
		}
		kinds = append(kinds, "feature "+k.String())
	}
	for _, m := range data.NumericMethods {
		kinds = append(kinds, "numeric "+string(m))
	}
	for i := 0; ; i++ {
		tt := mtl.TaskType(i)
		if _, err := mtl.ParseTaskType(tt.String()); err != nil {
			break
		}
		kinds = append(kinds, "task "+tt.String(), "family "+tt.String())
	}
	kinds = append(kinds, "embedding vocabulary", "embedding empty vocabulary", "embedding hashed", "levels 2")
	kinds = append(kinds, "depth 0", "depth 1", "depth 2", `impute ""`, `impute "mean"`, "members 1", "members 2")
	if len(kinds) < 18 {
		t.Fatalf("only %d kinds enumerated: %q", len(kinds), kinds)
	}
	for _, k := range kinds {
		if !covered[k] {
			t.Errorf("no case exports a model with %s: add one, or make export refuse it by name and add it to refusedKinds", k)
		}
	}
}

// average is what an ensemble of models predicts: the mean of their
// probabilities and values, and the class predict would pick from the
// mean (the positive class at p ≥ 0.5, else the first most probable).
func average(t *testing.T, s *data.Schema, ps []*predictions) *predictions {
	t.Helper()
	isLabel := map[string]bool{}
	for _, tg := range s.Targets {
		isLabel[tg.Name] = tg.Type != data.Regression
	}
	out := &predictions{col: ps[0].col, rows: make([][]string, len(ps[0].rows))}
	for i := range out.rows {
		out.rows[i] = make([]string, len(ps[0].rows[i]))
		for col, c := range out.col {
			if isLabel[col] {
				continue
			}
			var sum float64
			for _, p := range ps {
				sum += p.float(t, i, col)
			}
			out.rows[i][c] = strconv.FormatFloat(sum/float64(len(ps)), 'g', -1, 64)
		}
		for _, tg := range s.Targets {
			if tg.Type == data.Regression {
				continue
			}
			p := func(k int) float64 { return out.float(t, i, tg.Name+":p("+tg.Classes[k]+")") }
			best := 0
			for k := range tg.Classes {
				if p(k) > p(best) {
					best = k
				}
			}
			if len(tg.Classes) == 2 && p(1) >= p(0) {
				best = 1
			}
			out.rows[i][out.col[tg.Name]] = tg.Classes[best]
		}
	}
	return out
}

// slug makes a case name a file name.
func slug(name string) string {
	return strings.NewReplacer(" ", "_", ",", "").Replace(name)
}

// TestONNXRuntimeFeatureBlock trains with a NumPy feature file of three
// columns, the middle one ignored and the last one with missing values,
// and checks that the export reads the file's columns from one [N, 3]
// double input named by its prefix, and agrees with predict.
func TestONNXRuntimeFeatureBlock(t *testing.T) {
	runtimeDir(t)
	b := cpuBackend(t)
	dir := t.TempDir()
	trainFile, testFile := writeGenerated(t, dir, generated{name: "block"})
	trainNpy, _ := writeBlock(t, trainFile, 1)
	testNpy, fullTest := writeBlock(t, testFile, 2)
	o := pipeline.DefaultOptions()
	o.Data, o.Out = trainFile, filepath.Join(dir, "block.mtl")
	o.Features = []pipeline.FeatureFile{{Path: trainNpy, Prefix: "emb"}}
	o.Tasks = []string{"y:regression", "flag:binary", "kind:multiclass"}
	o.Ignore, o.Impute = []string{"x1", "site", `emb\[1\]`}, "mean"
	o.CV, o.ValSplit, o.Train.Batch, o.Train.Epochs = 0, 0.1, 128, 3
	m := train(t, b, o)
	var names []string
	for _, f := range m.Schema.Features {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "emb[2]") || slices.Contains(names, "emb[1]") {
		t.Fatalf("features %q: want emb[0] and emb[2] without emb[1]", names)
	}
	in := onnx.Inputs(m.Schema, "emb")
	if i := slices.IndexFunc(in, func(in onnx.InputInfo) bool { return in.Name == "emb" }); i < 0 || in[i].Kind != "block" || in[i].Columns != 3 || in[i].Tensor != "double" {
		t.Fatalf("inputs %+v: want one double block emb of 3 columns", in)
	}
	file := filepath.Join(dir, "block.onnx")
	if err := m.ExportONNX(file); err != nil {
		t.Fatal(err)
	}
	want := predictInput(t, b, m, pipeline.DataInput{Path: testFile, Features: []pipeline.FeatureFile{{Path: testNpy, Prefix: "emb"}}})
	checkAll(t, []exported{{name: "feature block", file: file, schema: m.Schema, blocks: []string{"emb"}, test: fullTest, want: want}})
}

// writeBlock writes a NumPy matrix of three columns for the rows of a
// data file (the last column missing on every ninth row), and a copy of
// the file with the matrix's columns emb[0], emb[1], emb[2] added; it
// returns the two paths.
func writeBlock(t *testing.T, path string, seed uint64) (string, string) {
	t.Helper()
	header, rows := testdata.ReadCSV(t, path)
	rng := rand.New(rand.NewPCG(seed, 13))
	var values []float64
	var b bytes.Buffer
	b.WriteString(strings.Join(append(header, "emb[0]", "emb[1]", "emb[2]"), ",") + "\n")
	for i, row := range rows {
		v := []float64{rng.NormFloat64(), rng.NormFloat64(), 3 + 2*rng.NormFloat64()}
		if i%9 == 0 {
			v[2] = math.NaN()
		}
		values = append(values, v...)
		cells := slices.Clone(row)
		for _, x := range v {
			cells = append(cells, strconv.FormatFloat(x, 'g', -1, 64))
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	npy := strings.TrimSuffix(path, ".csv") + ".npy"
	testdata.WriteNpy(t, npy, "<f8", fmt.Sprintf("%d, 3", len(rows)), values)
	full := strings.TrimSuffix(path, ".csv") + "-full.csv"
	if err := os.WriteFile(full, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return npy, full
}

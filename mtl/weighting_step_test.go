package mtl

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
)

// Tests of one optimiser step and of each weighting method's state against
// the float64 reference model of reference_test.go.

// stepLR is the learning rate of the plain SGD steps below.
const stepLR = 0.1

// stepSpec has four tasks of mixed types, task weights, a positive-class
// weight and a family, on 5 inputs.
func stepSpec(hidden []int, act backend.Activation) Spec {
	return Spec{
		Inputs: 5, Hidden: hidden, Activation: act,
		Tasks: []Task{
			{Name: "class", Type: Multiclass, Classes: 3, Weight: 0.7},
			{Name: "flag", Type: Binary, Weight: 1.3, PosWeight: 2},
			{Name: "value", Type: Regression},
			{Name: "score", Type: Regression, Groups: 3, Weight: 0.5},
		},
	}
}

// stepConfig is plain SGD at stepLR: no momentum, weight decay, clipping,
// warm-up or schedule, so that a step moves every parameter by −lr times
// its gradient.
func stepConfig(w Weighting, batch int) Config {
	cfg := DefaultConfig()
	cfg.Optimizer, cfg.LR, cfg.Momentum = SGD, stepLR, 0
	cfg.WeightDecay, cfg.GroupDecay, cfg.GroupBiasDecay, cfg.ClipNorm = 0, 0, 0, 0
	cfg.Schedule = Schedule{Kind: Constant}
	cfg.Batch, cfg.Seed, cfg.Weighting = batch, 7, w
	return cfg
}

// stepTrainer makes a model for spec with its parameters moved off their
// initial values, and its trainer on the float64 reference backend with
// the weighting method's learnt state st (restored as from a checkpoint),
// with the rows in their stored order.
func stepTrainer(t *testing.T, spec Spec, data *Dataset, cfg Config, st WeightingState) *Trainer {
	t.Helper()
	m, err := NewModel(spec, data, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range m.Params {
		m.Params[i] += float32(0.3 * rng.NormFloat64())
	}
	shuffle, _ := rand.NewPCG(cfg.Seed, streamShuffle).MarshalBinary()
	ckpt := &Checkpoint{Model: m, Config: cfg, State: State{RNG: shuffle, BestVal: math.Inf(1), BestEpoch: -1, Weighting: st}}
	tr, err := NewTrainer(backendtest.Reference{}, m, cfg, data, nil, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	for i := range tr.data.perm {
		tr.data.perm[i] = int32(i)
	}
	tr.b.WriteInt32(tr.data.idx, 0, tr.data.perm)
	return tr
}

// refStep is what the reference model says about one batch: each task's
// mean loss L_t and its gradient ∇L_t over every parameter.
type refStep struct {
	losses []float64
	grads  [][]float64
	shared []int // indices of the shared parameters
}

func newRefStep(tr *Trainer, data *Dataset, rows []int) refStep {
	m := newRefModel(tr.model.Spec, backendtest.Reference{}.Values(tr.net.params))
	r := refStep{shared: tr.lay.sharedIndices()}
	for task := range tr.model.Spec.Tasks {
		l, g := m.taskLoss(task, data, rows)
		r.losses, r.grads = append(r.losses, l), append(r.grads, g)
	}
	return r
}

// sharedVec returns c·∇L_t restricted to the shared parameters.
func (r refStep) sharedVec(t int, c float64) []float64 {
	v := make([]float64, len(r.shared))
	for k, i := range r.shared {
		v[k] = c * r.grads[t][i]
	}
	return v
}

// refPCGrad is PCGrad on explicit vectors: each task's vector, for every
// other task in an order drawn from rng as the trainer draws it, loses its
// projection on that task's vector when the two point apart; the results
// are summed. It also returns the number of projections made.
func refPCGrad(vs [][]float64, rng *rand.Rand) ([]float64, int) {
	n := len(vs)
	out := make([]float64, len(vs[0]))
	projections := 0
	for i := range n {
		g := slices.Clone(vs[i])
		var others []int
		for j := range n {
			if j != i {
				others = append(others, j)
			}
		}
		rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		for _, j := range others {
			var dot, nn float64
			for k := range g {
				dot += g[k] * vs[j][k]
				nn += vs[j][k] * vs[j][k]
			}
			if dot < 0 && nn > 0 {
				projections++
				for k := range g {
					g[k] -= dot / nn * vs[j][k]
				}
			}
		}
		for k := range g {
			out[k] += g[k]
		}
	}
	return out, projections
}

// refMGDA is Σ α_t·v_t for the exact minimiser α of ‖Σ α_t v_t‖² on the
// simplex (kktMinNorm), over the non-zero vectors only.
func refMGDA(vs [][]float64) ([]float64, []float64) {
	var live [][]float64
	var idx []int
	for i, v := range vs {
		if slices.ContainsFunc(v, func(x float64) bool { return x != 0 }) {
			live, idx = append(live, v), append(idx, i)
		}
	}
	alpha := make([]float64, len(vs))
	out := make([]float64, len(vs[0]))
	if len(live) == 0 {
		return out, alpha
	}
	a := kktMinNorm(gramOf(live), len(live))
	for k, i := range idx {
		alpha[i] = a[k]
		for j := range out {
			out[j] += a[k] * live[k][j]
		}
	}
	return out, alpha
}

// maxAbs returns max_i |v_i|.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// stepCase is one step to check.
type stepCase struct {
	name   string
	method Method
	hidden []int
	act    backend.Activation
	state  WeightingState
	clip   float64 // ClipNorm as a multiple of the step's gradient norm; 0: none
	// unlabelled lists tasks without a label in the batch.
	unlabelled []int
}

// TestStepMatchesReference runs one trainer step (plain SGD, lr 0.1, on
// the float64 reference backend) for every weighting method and compares
// the change of every parameter with −lr times the gradient the reference
// model gives, combined as the method says:
//
//	equal        Σ_t λ_t·∇L_t
//	uncertainty  Σ_t λ_t·e^{−s_t}/2·∇L_t  (s_t the learnt log-variances)
//	dwa          Σ_t λ_t·w_t·∇L_t         (w_t the epoch's weights)
//	gradnorm     Σ_t λ_t·w_t·∇L_t         (w_t the learnt weights)
//	pcgrad       heads Σ_t λ_t·∇L_t; shared layers PCGrad of the λ_t·∇L_t
//	             in the trainer's task orders, by explicit projections
//	mgda         heads Σ_t λ_t·∇L_t; shared layers the exact min-norm point
//	             of the λ_t·∇L_t with a gradient, by kktMinNorm
//
// with one and two shared layers and each activation, and clipping (the
// whole gradient scaled to the clip norm). Tolerance: every parameter's
// change within 10⁻⁶·max_i |change_i| of the reference, the maximum taken
// over the shared layers and over the heads separately (the errors, from
// float32 rounding of the loss weights, labels, Gram matrix and
// coefficients, are below 10⁻⁷).
func TestStepMatchesReference(t *testing.T) {
	t.Parallel()
	logVar := []float64{0.4, -0.3, 0.9, 0.1}
	weights := []float64{0.6, 1.5, 0.9, 1.0}
	var cases []stepCase
	for _, arch := range []struct {
		name   string
		hidden []int
		act    backend.Activation
	}{{"linear", []int{4}, backend.Identity}, {"relu", []int{6}, backend.ReLU}, {"tanh2", []int{4, 3}, backend.Tanh}} {
		for _, m := range Methods {
			c := stepCase{name: string(m) + "/" + arch.name, method: m, hidden: arch.hidden, act: arch.act}
			switch m {
			case Uncertainty:
				c.state = WeightingState{LogVar: logVar}
			case DWA:
				c.state = WeightingState{Weights: weights}
			case GradNorm:
				c.state = WeightingState{Weights: weights, Initial: []float64{1, 1, 1, 1}}
			}
			cases = append(cases, c)
		}
	}
	cases = append(cases,
		stepCase{name: "equal/clipped", method: Equal, hidden: []int{4, 3}, act: backend.Tanh, clip: 0.3},
		stepCase{name: "equal/clip-inactive", method: Equal, hidden: []int{4, 3}, act: backend.Tanh, clip: 1.5},
		stepCase{name: "pcgrad/clipped", method: PCGrad, hidden: []int{6}, act: backend.ReLU, clip: 0.5},
		stepCase{name: "mgda/unlabelled-task", method: MGDA, hidden: []int{6}, act: backend.ReLU, unlabelled: []int{1}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkStep(t, c)
		})
	}
}

func checkStep(t *testing.T, c stepCase) {
	spec := stepSpec(c.hidden, c.act)
	const rows = 12
	data := randomData(spec, rows, rand.New(rand.NewPCG(31, 32)))
	for _, task := range c.unlabelled {
		for i := range data.Labels[task] {
			data.Labels[task][i] = float32(math.NaN())
		}
	}
	cfg := stepConfig(Weighting{Method: c.method}, rows)
	tr := stepTrainer(t, spec, data, cfg, c.state)
	nt := len(spec.Tasks)
	ref := newRefStep(tr, data, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})

	// The method's multiplier of each task's loss.
	lw := ones(nt)
	switch c.method {
	case Uncertainty:
		for i := range lw {
			lw[i] = math.Exp(-c.state.LogVar[i]) / 2
		}
	case DWA, GradNorm:
		copy(lw, c.state.Weights)
	}
	lambda := make([]float64, nt)
	for i, task := range spec.Tasks {
		lambda[i] = task.weight()
	}
	grad := make([]float64, tr.lay.total)
	for task := range nt {
		for i, g := range ref.grads[task] {
			grad[i] += lw[task] * lambda[task] * g
		}
	}
	plain := make([]float64, len(ref.shared)) // Σ_t λ_t·∇L_t on the shared layers
	vs := make([][]float64, nt)
	for task := range nt {
		vs[task] = ref.sharedVec(task, lambda[task])
		for k := range plain {
			plain[k] += vs[task][k]
		}
	}
	var combined []float64
	switch c.method {
	case PCGrad:
		var projections int
		combined, projections = refPCGrad(vs, rand.New(rand.NewPCG(cfg.Seed, streamPCGrad)))
		if projections < 2 {
			t.Fatalf("only %d projections: the test needs gradients that conflict", projections)
		}
		t.Logf("%d projections", projections)
	case MGDA:
		var alpha []float64
		combined, alpha = refMGDA(vs)
		for _, task := range c.unlabelled {
			if alpha[task] != 0 {
				t.Fatalf("reference gives the unlabelled task %d weight %g", task, alpha[task])
			}
		}
		t.Logf("α = %.4f", alpha)
	}
	if combined != nil {
		for k, i := range ref.shared {
			grad[i] = combined[k]
		}
		// The method must matter: its combination is far from the plain
		// sum, beyond the tolerance below.
		diff := make([]float64, len(plain))
		for k := range plain {
			diff[k] = combined[k] - plain[k]
		}
		if maxAbs(diff) < 1e-2*maxAbs(plain) {
			t.Fatalf("%s combination is within 1%% of the plain sum: the test cannot tell them apart", c.method)
		}
	}
	clipScale := 1.0
	if c.clip > 0 {
		var nn float64
		for _, g := range grad {
			nn += g * g
		}
		tr.cfg.ClipNorm = c.clip * math.Sqrt(nn)
		clipScale = min(1, c.clip)
	}
	want := make([]float64, tr.lay.total)
	for i := range want {
		want[i] = -stepLR * clipScale * grad[i]
	}
	sharedWant := make([]float64, len(ref.shared))
	for k, i := range ref.shared {
		sharedWant[k] = want[i]
	}
	if maxAbs(sharedWant) < 1e-3*maxAbs(want) {
		t.Fatalf("the shared layers' update is negligible: the test would not see them skipped")
	}

	values := backendtest.Reference{}.Values
	before := values(tr.net.params)
	if err := tr.step(0, 0, rows); err != nil {
		t.Fatal(err)
	}
	after := values(tr.net.params)
	isShared := make([]bool, tr.lay.total)
	for _, i := range ref.shared {
		isShared[i] = true
	}
	// The shared layers and the heads each against their own scale.
	var headWant []float64
	for i := range want {
		if !isShared[i] {
			headWant = append(headWant, want[i])
		}
	}
	scale := map[bool]float64{true: maxAbs(sharedWant), false: maxAbs(headWant)}
	worst := map[bool]float64{}
	bad := 0
	for i := range want {
		got := after[i] - before[i]
		rel := math.Abs(got-want[i]) / scale[isShared[i]]
		worst[isShared[i]] = max(worst[isShared[i]], rel)
		if rel > 1e-6 {
			if bad++; bad <= 5 {
				what := "head"
				if isShared[i] {
					what = "shared"
				}
				t.Errorf("%s parameter %d moved by %.9g, reference %.9g", what, i, got, want[i])
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d parameters in all differ", bad)
	}
	t.Logf("largest error relative to the largest change: shared layers %.2g, heads %.2g", worst[true], worst[false])
}

// Tests of each method's learnt state over several steps.

// stepData draws 24 rows for spec; task 2 has no label in rows 0–7, the
// first batch of 8.
func stepData(spec Spec, seed uint64) *Dataset {
	data := randomData(spec, 24, rand.New(rand.NewPCG(seed, seed+1)))
	for i := range 8 {
		data.Labels[2][i] = float32(math.NaN())
	}
	return data
}

// refAdam is Adam (β₁ 0.9, β₂ 0.999, ε 10⁻⁸) on params with gradient g at
// step number step (from 1).
func refAdam(params, m, v, g []float64, step int, lr float64) {
	for i := range params {
		m[i] = 0.9*m[i] + 0.1*g[i]
		v[i] = 0.999*v[i] + 0.001*g[i]*g[i]
		mh := m[i] / (1 - math.Pow(0.9, float64(step)))
		vh := v[i] / (1 - math.Pow(0.999, float64(step)))
		params[i] -= lr * mh / (math.Sqrt(vh) + 1e-8)
	}
}

// allWithin reports whether got and want have the same length and agree
// element by element to abs or rel (backendtest.Within).
func allWithin(got, want []float64, abs, rel float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !backendtest.Within(got[i], want[i], abs, rel) {
			return false
		}
	}
	return true
}

// runSteps runs steps trainer steps over the batches of 8 rows in order,
// calling check with the reference model's view of each batch before the
// step, and the step's number from 1.
func runSteps(t *testing.T, tr *Trainer, data *Dataset, steps int, check func(step int, ref refStep)) {
	t.Helper()
	for s := range steps {
		off := (s * 8) % data.N
		rows := []int{off, off + 1, off + 2, off + 3, off + 4, off + 5, off + 6, off + 7}
		ref := newRefStep(tr, data, rows)
		if err := tr.step(off/8, off, 8); err != nil {
			t.Fatal(err)
		}
		tr.state.Step++
		check(s+1, ref)
	}
}

// TestUncertaintyStateFollowsFormula runs six steps and follows, in
// float64, the learnt log-variances: each step, Adam (lr 0.05) descends
// Σ_t e^{−s_t}·L_t/2 + s_t/2 with the batch's mean task losses L_t from the
// reference model, so ∂/∂s_t = −e^{−s_t}·L_t/2 + 1/2, or 0 for a task
// without a label in the batch. Tolerance: s within 10⁻⁷, Adam's moments
// within 10⁻⁶ relative (the trainer's losses pass through float32).
func TestUncertaintyStateFollowsFormula(t *testing.T) {
	t.Parallel()
	spec := stepSpec([]int{4}, backend.Tanh)
	data := stepData(spec, 41)
	tr := stepTrainer(t, spec, data, stepConfig(Weighting{Method: Uncertainty, LR: 0.05}, 8), WeightingState{})
	nt := len(spec.Tasks)
	s, m, v := make([]float64, nt), make([]float64, nt), make([]float64, nt)
	runSteps(t, tr, data, 6, func(step int, ref refStep) {
		g := make([]float64, nt)
		for i, l := range ref.losses {
			if !math.IsNaN(l) {
				g[i] = -math.Exp(-s[i])*l/2 + 0.5
			}
		}
		refAdam(s, m, v, g, step, 0.05)
		st := tr.methods[0].save()
		if st.Steps != step || !allWithin(st.LogVar, s, 1e-7, 0) || !allWithin(st.M, m, 1e-12, 1e-6) || !allWithin(st.V, v, 1e-12, 1e-6) {
			t.Fatalf("step %d: trainer s = %v, m = %v, v = %v, steps %d\nreference s = %v, m = %v, v = %v", step, st.LogVar, st.M, st.V, st.Steps, s, m, v)
		}
	})
	if maxAbs(s) < 0.1 {
		t.Errorf("log-variances hardly moved: %v", s)
	}
}

// TestGradNormStateFollowsFormula runs eight steps and follows, in float64,
// GradNorm's weights: with G_t = w_t·‖∇_shared λ_t·L_t‖ from the reference
// model, L̃_t = L_t/L_t(0) and r_t = L̃_t/mean(L̃), Adam (lr 0.05) descends
// Σ_t |G_t − mean(G)·r_t^α| (α = 1.5) in w with the target held constant,
// the weights are floored at 10⁻³ and renormalised to Σ w_t = T. Task 2
// has no label in the first batch: its L_t(0) is its loss in the second.
// Tolerance: w within 10⁻⁷, L_t(0) within 10⁻⁶ relative, Σ w_t = T within
// 10⁻¹².
func TestGradNormStateFollowsFormula(t *testing.T) {
	t.Parallel()
	spec := stepSpec([]int{4, 3}, backend.Tanh)
	data := stepData(spec, 43)
	const alpha, lr = 1.5, 0.05
	tr := stepTrainer(t, spec, data, stepConfig(Weighting{Method: GradNorm, Alpha: alpha, LR: lr}, 8), WeightingState{})
	nt := len(spec.Tasks)
	w, m, v := ones(nt), make([]float64, nt), make([]float64, nt)
	var initial []float64
	adamSteps := 0
	runSteps(t, tr, data, 8, func(step int, ref refStep) {
		first := initial == nil
		if first {
			initial = make([]float64, nt)
		}
		for i, l := range ref.losses {
			if initial[i] == 0 && !math.IsNaN(l) {
				initial[i] = l
			}
		}
		if !first {
			norms, rel := make([]float64, nt), make([]float64, nt)
			var meanG, meanR float64
			for i := range nt {
				norms[i] = w[i] * math.Sqrt(dot(ref.sharedVec(i, spec.Tasks[i].weight()), ref.sharedVec(i, spec.Tasks[i].weight())))
				rel[i] = 1
				if !math.IsNaN(ref.losses[i]) && initial[i] > 0 {
					rel[i] = ref.losses[i] / initial[i]
				}
				meanG += norms[i] / float64(nt)
				meanR += rel[i] / float64(nt)
			}
			grad := make([]float64, nt)
			for i := range nt {
				target := meanG * math.Pow(rel[i]/meanR, alpha)
				grad[i] = math.Copysign(1, norms[i]-target) * norms[i] / w[i]
				if norms[i] == target {
					grad[i] = 0
				}
			}
			adamSteps++
			refAdam(w, m, v, grad, adamSteps, lr)
			var sum float64
			for i := range w {
				w[i] = max(w[i], 1e-3)
				sum += w[i]
			}
			for i := range w {
				w[i] *= float64(nt) / sum
			}
		}
		st := tr.methods[0].save()
		var sum float64
		for _, x := range st.Weights {
			sum += x
		}
		if math.Abs(sum-float64(nt)) > 1e-12 {
			t.Fatalf("step %d: weights %v sum to %.15g, not %d", step, st.Weights, sum, nt)
		}
		if !allWithin(st.Weights, w, 1e-7, 0) || !allWithin(st.Initial, initial, 1e-12, 1e-6) {
			t.Fatalf("step %d: trainer weights %v, L(0) %v\nreference weights %v, L(0) %v", step, st.Weights, st.Initial, w, initial)
		}
	})
	if math.IsNaN(initial[2]) || initial[2] == 0 || initial[2] == initial[0] {
		t.Fatalf("L(0) = %v", initial)
	}
	if maxAbs([]float64{w[0] - 1, w[1] - 1, w[2] - 1, w[3] - 1}) < 0.05 {
		t.Errorf("weights hardly moved: %v", w)
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestGradNormFloorAndRenormalise: a weight driven below 10⁻³ is floored
// there before the weights are scaled to sum to T. Hand-computed values;
// tolerance 10⁻⁶ (Adam's ε shortens its first step by about 10⁻⁸).
func TestGradNormFloorAndRenormalise(t *testing.T) {
	// G = (1, 3) at w = (0.01, 1.99) with equal losses: task 0's gradient
	// is below the target, task 1's above, so Adam's first step (lr 1) adds
	// 1 to w_0 and takes 1 from w_1: (1.01, 0.99), sum 2.
	g := &gradNorm{weights: []float64{0.01, 1.99}, initial: []float64{1, 1}, alpha: 1.5, lr: 1}
	g.step([]float64{1, 1}, []float64{1, 0, 0, 9})
	if !backendtest.Within(g.weights[0], 1.01, 1e-6, 0) || !backendtest.Within(g.weights[1], 0.99, 1e-6, 0) {
		t.Errorf("weights %v, want [1.01 0.99]", g.weights)
	}
	// Now G = (1, 3) at w = (1.5, 0.5): w_1 would fall to 0.5 − 1 < 0, is
	// floored at 10⁻³, and w = 2·(2.5, 0.001)/2.501.
	g = &gradNorm{weights: []float64{1.5, 0.5}, initial: []float64{1, 1}, alpha: 1.5, lr: 1}
	g.step([]float64{1, 1}, []float64{1, 0, 0, 9})
	if !backendtest.Within(g.weights[0], 2*2.5/2.501, 1e-6, 0) || !backendtest.Within(g.weights[1], 2*0.001/2.501, 1e-9, 1e-5) {
		t.Errorf("weights %v, want [%g %g]", g.weights, 2*2.5/2.501, 2*0.001/2.501)
	}
}

// TestDWAWeightsFollowLossRatios trains five epochs and checks each
// epoch's reported weights against DWA's formula applied to the reported
// mean task losses of the two epochs before: λ_t·T·softmax_t(r_t/τ) with
// r_t = L_t(e−1)/L_t(e−2) and τ = 0.5, or λ_t in the first two epochs.
// Task 3 never has a label: its r_t is 1. Tolerance: 10⁻¹² relative.
func TestDWAWeightsFollowLossRatios(t *testing.T) {
	t.Parallel()
	spec := stepSpec([]int{4}, backend.ReLU)
	data := stepData(spec, 45)
	for i := range data.Labels[3] {
		data.Labels[3][i] = float32(math.NaN())
	}
	cfg := stepConfig(Weighting{Method: DWA, Temperature: 0.5}, 8)
	cfg.Epochs, cfg.Patience = 5, 0
	epochs := fitEpochs(t, newTrainer(t, cpuBackend(t), spec, cfg, data, nil))
	nt := len(spec.Tasks)
	moved := false
	for e, st := range epochs {
		want := make([]float64, nt)
		for i, task := range spec.Tasks {
			want[i] = task.weight()
		}
		if e >= 2 {
			r := make([]float64, nt)
			var sum float64
			for i := range nt {
				r[i] = 1
				if l1, l2 := epochs[e-1].TaskTrain[i], epochs[e-2].TaskTrain[i]; !math.IsNaN(l1) && !math.IsNaN(l2) {
					r[i] = l1 / l2
				}
				sum += math.Exp(r[i] / 0.5)
			}
			for i := range nt {
				want[i] *= float64(nt) * math.Exp(r[i]/0.5) / sum
			}
			moved = true
		}
		if !allWithin(st.Weights, want, 0, 1e-12) {
			t.Errorf("epoch %d: weights %v, formula %v", e+1, st.Weights, want)
		}
	}
	if !moved || !math.IsNaN(epochs[0].TaskTrain[3]) {
		t.Fatal("the run is too short or task 3 has labels")
	}
}

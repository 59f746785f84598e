package mtl

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// archSpecs are models with every new kind of parameter: mixtures of
// experts, embedding tables and several members, alone and together.
func archSpecs() map[string]Spec {
	emb := []Embedding{{Name: "user", Rows: 9, Dim: 3}, {Name: "item", Rows: 5, Dim: 2}}
	specs := map[string]Spec{}
	add := func(name string, change func(*Spec)) {
		s := gradSpec(nil, backend.Tanh)
		change(&s)
		specs[name] = s
	}
	add("mmoe", func(s *Spec) { s.Arch, s.Experts, s.Hidden = MMoE, 3, []int{4} })
	add("mmoe/two layers", func(s *Spec) { s.Arch, s.Experts, s.Hidden = MMoE, 2, []int{4, 3} })
	add("ple/two levels", func(s *Spec) { s.Arch, s.Experts, s.TaskExperts, s.Levels, s.Hidden = PLE, 2, 1, 2, []int{3} })
	add("ple/task experts only", func(s *Spec) { s.Arch, s.TaskExperts, s.Levels, s.Hidden = PLE, 2, 2, []int{3} })
	add("ple/three levels, two layers", func(s *Spec) {
		s.Arch, s.Experts, s.TaskExperts, s.Levels, s.Hidden = PLE, 1, 1, 3, []int{3, 2}
	})
	add("embeddings/shared", func(s *Spec) { s.Embeddings, s.Hidden = emb, []int{4} })
	add("embeddings/heads on inputs", func(s *Spec) { s.Embeddings, s.Activation = emb, backend.Identity })
	add("embeddings only", func(s *Spec) { s.Embeddings, s.Inputs, s.Hidden = emb, 0, []int{4} })
	add("members/shared", func(s *Spec) { s.Members, s.Hidden = 3, []int{4, 3} })
	add("members/linear", func(s *Spec) { s.Members, s.Hidden, s.Activation = 2, []int{4}, backend.Identity })
	add("members/mmoe/embeddings", func(s *Spec) { s.Members, s.Arch, s.Experts, s.Hidden, s.Embeddings = 2, MMoE, 2, []int{3}, emb })
	add("members/ple", func(s *Spec) {
		s.Members, s.Arch, s.Experts, s.TaskExperts, s.Levels, s.Hidden = 2, PLE, 1, 1, 2, []int{3}
	})
	return specs
}

// TestArchGradients checks the gradient of every parameter of every new
// kind of model against central differences, in float64.
func TestArchGradients(t *testing.T) {
	for name, spec := range archSpecs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gradCheck(t, spec)
		})
	}
}

// archData draws a training and a validation set for spec.
func archData(spec Spec, seed uint64) (*Dataset, *Dataset) {
	rng := rand.New(rand.NewPCG(seed, 3))
	return randomData(spec, 240, rng), randomData(spec, 60, rng)
}

// TestArchTrainAndResume trains every new kind of model, with equal
// weighting and with a gradient method: the loss falls, and a run
// interrupted in the middle of an epoch resumes to the very parameters of
// an uninterrupted one.
func TestArchTrainAndResume(t *testing.T) {
	for name, spec := range archSpecs() {
		for _, method := range []Method{Equal, PCGrad, GradNorm} {
			t.Run(name+"/"+string(method), func(t *testing.T) {
				t.Parallel()
				data, val := archData(spec, 1)
				cfg := DefaultConfig()
				cfg.Epochs, cfg.Batch, cfg.Patience, cfg.ClipNorm = 5, 32, 0, 5
				cfg.Weighting = Weighting{Method: method}
				epochs := fitEpochs(t, newTrainer(t, cpuBackend(t), spec, cfg, data, val))
				if first, last := epochs[0], epochs[len(epochs)-1]; !(last.TrainLoss < first.TrainLoss) {
					t.Errorf("train loss went from %g to %g", first.TrainLoss, last.TrainLoss)
				}
				if (method != Equal) == math.IsNaN(epochs[0].GradCosine) {
					t.Errorf("gradient cosine %g for %s", epochs[0].GradCosine, method)
				}
				if !resumeMatches(t, spec, cfg, data, val, true) {
					t.Error("resumed run differs from the uninterrupted one")
				}
			})
		}
	}
}

// TestMembersMatchSeparateRuns trains members together and each alone,
// from the same initial parameters, on the same batches and with the same
// rows masked: every member ends with the parameters of its own run, and
// predictions are the members' mean.
func TestMembersMatchSeparateRuns(t *testing.T) {
	memb := func(s Spec, e []Embedding) Spec { s.Embeddings = e; return s }
	emb := archSpecs()["members/mmoe/embeddings"].Embeddings
	for name, spec := range map[string]Spec{"shared": archSpecs()["members/shared"], "mmoe/embeddings": archSpecs()["members/mmoe/embeddings"],
		"mmoe": memb(archSpecs()["members/mmoe/embeddings"], nil), "shared/embeddings": memb(archSpecs()["members/shared"], emb), "ple": archSpecs()["members/ple"]} {
		t.Run(name, func(t *testing.T) {
			b := cpuBackend(t)
			data, val := archData(spec, 2)
			cfg := DefaultConfig()
			cfg.Epochs, cfg.Batch, cfg.Patience, cfg.ClipNorm = 4, 32, 2, 3
			tr := newTrainer(t, b, spec, cfg, data, val)
			init := slices.Clone(tr.model.Params)
			fitEpochs(t, tr)
			together := tr.model
			p := newLayout(spec).total
			for m := range spec.members() {
				one := spec
				one.Members = 0
				one.Tasks = slices.Clone(together.Spec.Tasks) // with the fitted standardisation
				alone := &Model{Spec: one, Params: slices.Clone(init[m*p : (m+1)*p])}
				d, v := memberView(data, m), memberView(val, m)
				tr1, err := NewTrainer(b, alone, cfg, d, v, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := tr1.Fit(context.Background(), Hooks{}); err != nil {
					t.Fatal(err)
				}
				tr1.Close()
				// CPU GEMMs round in an order that depends on the operands'
				// alignment, so members at other offsets agree to float
				// tolerance, not bit for bit.
				for i, v := range alone.Params {
					if w := together.Params[m*p+i]; math.Abs(float64(v-w)) > 1e-4*max(1, math.Abs(float64(w))) {
						t.Fatalf("member %d, parameter %d: %g together, %g in its own run", m, i, w, v)
					}
				}
			}
			if slices.Equal(together.Params[:p], together.Params[p:2*p]) {
				t.Fatal("members 0 and 1 ended equal: they did not train apart")
			}
			// The model predicts the mean of its members.
			per, err := together.PredictMembers(b, val)
			if err != nil {
				t.Fatal(err)
			}
			mean := predict(t, b, together, val)
			for task := range mean {
				for i, v := range mean[task] {
					var s float64
					for m := range per {
						s += float64(per[m][task][i])
					}
					if want := s / float64(len(per)); math.Abs(float64(v)-want) > 1e-6*max(1, math.Abs(want)) {
						t.Fatalf("task %d, output %d: %g, the members' mean is %g", task, i, v, want)
					}
				}
			}
		})
	}
}

// memberView is d as member m alone sees it: the rows it uses are marked
// for member 0.
func memberView(d *Dataset, m int) *Dataset {
	v := *d
	v.Members = make([]uint64, d.N)
	for i := range v.Members {
		if d.uses(i, m) {
			v.Members[i] = 1
		}
	}
	return &v
}

// Package benchmark defines the reference training workloads of mtl-gpu and
// measures a backend on them: throughput over whole epochs, the share of
// time each operation takes, and the throughput that the step's GEMMs
// alone reach at the same shapes, which bounds what any implementation of
// the step can do on that device.
package benchmark

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/profile"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Workload is a synthetic multi-task problem and how to train on it.
type Workload struct {
	Name     string
	Samples  int
	Features int
	// Arch is the body (empty: a shared bottom of one layer of Hidden).
	// A mixture of experts has Experts experts (PLE: shared experts, and
	// TaskExperts of each task, at each of Levels levels), each one layer
	// of Hidden.
	Arch                         mtl.Arch
	Experts, TaskExperts, Levels int
	Hidden                       int
	Activation                   backend.Activation
	Tasks                        int
	Classes                      int
	Batch                        int
	LR                           float64
	Momentum                     float64
}

// Workloads are the reference workloads: "linear" is the first (a linear
// 256-wide shared projection of 512 features), "relu" the second (a ReLU
// projection of 512 on 1,024 features). Both have 65,536 samples, 8
// multiclass tasks of 10 classes, batches of 1,024 and plain SGD.
var Workloads = []Workload{
	{Name: "linear", Samples: 65536, Features: 512, Hidden: 256, Activation: backend.Identity, Tasks: 8, Classes: 10, Batch: 1024, LR: 0.05, Momentum: 0.9},
	{Name: "relu", Samples: 65536, Features: 1024, Hidden: 512, Activation: backend.ReLU, Tasks: 8, Classes: 10, Batch: 1024, LR: 0.05, Momentum: 0.9},
}

// Find returns the workload named name.
func Find(name string) (Workload, error) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (want linear or relu)", name)
}

// WithArch returns w with the body arch: a shared bottom leaves w as it
// is; MMoE has 8 experts, PLE two levels of 4 shared experts and 1 of each
// task, every expert one ReLU layer of 256, read by linear heads.
func (w Workload) WithArch(arch mtl.Arch) (Workload, error) {
	switch arch {
	case "", mtl.SharedBottom:
		return w, nil
	case mtl.MMoE:
		w.Experts = 8
	case mtl.PLE:
		w.Experts, w.TaskExperts, w.Levels = 4, 1, 2
	default:
		return w, fmt.Errorf("unknown architecture %q (want shared, mmoe or ple)", arch)
	}
	w.Name += "/" + string(arch)
	w.Arch, w.Hidden, w.Activation = arch, 256, backend.ReLU
	return w, nil
}

// String describes the workload in one line.
func (w Workload) String() string {
	body := fmt.Sprintf("%d (%s)", w.Hidden, w.Activation)
	switch w.Arch {
	case mtl.MMoE:
		body = fmt.Sprintf("MMoE of %d experts × %s", w.Experts, body)
	case mtl.PLE:
		body = fmt.Sprintf("PLE of %d levels × (%d shared + %d per task) experts × %s", w.Levels, w.Experts, w.TaskExperts, body)
	}
	return fmt.Sprintf("%s: %d samples × %d features → %s → %d tasks × %d classes, batch %d, SGD",
		w.Name, w.Samples, w.Features, body, w.Tasks, w.Classes, w.Batch)
}

// Spec is the model of the workload.
func (w Workload) Spec() mtl.Spec {
	s := mtl.Spec{Inputs: w.Features, Hidden: []int{w.Hidden}, Activation: w.Activation,
		Arch: w.Arch, Experts: w.Experts, TaskExperts: w.TaskExperts, Levels: w.Levels}
	for t := range w.Tasks {
		s.Tasks = append(s.Tasks, mtl.Task{Name: fmt.Sprintf("task%d", t), Type: mtl.Multiclass, Classes: w.Classes})
	}
	return s
}

// Config is how the workload is trained: SGD with momentum at a constant
// rate, no decay, no validation, equal task weights.
func (w Workload) Config(epochs int) mtl.Config {
	c := mtl.DefaultConfig()
	c.Epochs, c.Batch, c.Optimizer, c.LR, c.Momentum = epochs, w.Batch, mtl.SGD, w.LR, w.Momentum
	c.WeightDecay, c.Patience = 0, 0
	c.Schedule = mtl.Schedule{Kind: mtl.Constant}
	return c
}

// Data generates a learnable data set: inputs are standard normal, and
// each task's label is the most likely class of a random teacher that
// reads a 16-dimensional projection of the inputs, with Gumbel noise.
func (w Workload) Data(seed uint64) *mtl.Dataset {
	rng := rand.New(rand.NewPCG(seed, 0x62656e63))
	const r = 16
	u := make([]float64, w.Features*r)
	for i := range u {
		u[i] = rng.NormFloat64() / math.Sqrt(float64(w.Features))
	}
	v := make([]float64, w.Tasks*r*w.Classes)
	for i := range v {
		v[i] = 2 * rng.NormFloat64() / math.Sqrt(r)
	}
	d := &mtl.Dataset{N: w.Samples, X: make([]float32, w.Samples*w.Features)}
	for range w.Tasks {
		d.Labels = append(d.Labels, make([]float32, w.Samples))
		d.Groups = append(d.Groups, nil)
	}
	proj := make([]float64, r)
	for i := range w.Samples {
		x := d.X[i*w.Features : (i+1)*w.Features]
		clear(proj)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
			for q := range r {
				proj[q] += float64(x[j]) * u[j*r+q]
			}
		}
		for t := range w.Tasks {
			best, bestScore := 0, math.Inf(-1)
			for c := range w.Classes {
				s := -math.Log(-math.Log(rng.Float64()))
				for q := range r {
					s += proj[q] * v[(t*r+q)*w.Classes+c]
				}
				if s > bestScore {
					best, bestScore = c, s
				}
			}
			d.Labels[t][i] = float32(best)
		}
	}
	return d
}

// Result is what Run measured.
type Result struct {
	Workload Workload
	Device   backend.DeviceInfo
	// LossBefore and LossAfter are the mean task loss on the first 4,096
	// samples before training and after the last epoch.
	LossBefore, LossAfter float64
	// EpochSeconds are the times of the timed epochs (after the warm-up).
	EpochSeconds []float64
	// SamplesPerSec is the throughput over the timed epochs.
	SamplesPerSec float64
	// StepFlops is the work of the GEMMs of one full batch's step, and
	// StepGemms their number (a strided batch counts once).
	StepFlops float64
	StepGemms int
	// GFlops is the GEMM work per second achieved by the whole step.
	GFlops float64
	// GemmOnlySamplesPerSec is the throughput the step's GEMMs alone
	// reach at the same shapes on the same device.
	GemmOnlySamplesPerSec float64
	// Ops is the per-operation profile of one extra epoch.
	Ops []profile.Op
	// ProfileSeconds is the length of the profiled epoch.
	ProfileSeconds float64
	// Params is the number of model parameters.
	Params int
	// Method is the weighting method that ran.
	Method mtl.Method
	// Processes is the number of processes of a data-parallel run (1
	// alone), Comm their all-reduce over every epoch, and StepSeconds the
	// mean time of a step over every epoch.
	Processes   int
	Comm        mtl.Communication
	StepSeconds float64
}

// Run trains w on b, combining the tasks with method, for one warm-up
// epoch and epochs timed epochs, then profiles one more epoch operation by
// operation when prof is set; data-parallel over group when it is not nil.
func Run(ctx context.Context, b backend.Backend, w Workload, method mtl.Method, data *mtl.Dataset, epochs int, prof bool, group mtl.Collective) (*Result, error) {
	res := &Result{Workload: w, Device: b.Info(), Method: method, Processes: 1}
	spec := w.Spec()
	extra := 0
	if prof {
		extra = 1
	}
	cfg := w.Config(1 + epochs + extra)
	cfg.Weighting.Method = method
	model, err := mtl.NewModel(spec, data, cfg.Seed)
	if err != nil {
		return nil, err
	}
	res.Params = model.NumParams()
	probe := head(data, min(4096, data.N), w.Features)
	if res.LossBefore, err = meanLoss(b, model, probe); err != nil {
		return nil, err
	}
	pb := profile.Wrap(b)
	pb.Enabled = false
	// The GEMMs of the first step, for the GEMM-only reference.
	rec := &gemmRecorder{Backend: pb}
	var tb backend.Backend = rec
	if g, ok := b.(backend.DeviceGroup); ok && group != nil {
		// The device's own all-reduce (NCCL), past the profile.
		tb = struct {
			*gemmRecorder
			backend.DeviceGroup
		}{rec, g}
	}
	tr, err := mtl.NewTrainer(tb, model, cfg, data, nil, nil)
	if err != nil {
		return nil, err
	}
	if group != nil {
		if err := tr.Distribute(group); err != nil {
			tr.Close()
			return nil, err
		}
		res.Processes = group.Size()
	}
	fitStart := time.Now()
	var timed time.Duration
	var start time.Time
	hooks := mtl.Hooks{
		Step: func(epoch, step, steps int) {
			rec.recording = false
			if step == 0 && epoch == 1+epochs {
				pb.Enabled = true
				start = time.Now()
			}
		},
		Epoch: func(s mtl.EpochStats) error {
			switch {
			case s.Epoch >= 2 && s.Epoch <= 1+epochs:
				res.EpochSeconds = append(res.EpochSeconds, s.Seconds)
				timed += time.Duration(s.Seconds * float64(time.Second))
			case s.Epoch == 2+epochs:
				res.ProfileSeconds = time.Since(start).Seconds()
			}
			return nil
		},
	}
	rec.recording = true
	err = tr.Fit(ctx, hooks)
	res.Comm = tr.Communication()
	if st := tr.State(); st.Step > 0 {
		res.StepSeconds = time.Since(fitStart).Seconds() / float64(st.Step)
	}
	tr.Close()
	if err != nil {
		return nil, err
	}
	if err := pb.Err(); err != nil {
		return nil, err
	}
	res.Ops = pb.Ops()
	for _, g := range rec.calls {
		res.StepFlops += g.flops()
	}
	res.StepGemms = len(rec.calls)
	samples := float64(epochs * data.N)
	res.SamplesPerSec = samples / timed.Seconds()
	res.GFlops = res.SamplesPerSec / float64(w.Batch) * res.StepFlops / 1e9
	if res.LossAfter, err = meanLoss(b, model, probe); err != nil {
		return nil, err
	}
	stepsPerSec, err := gemmOnly(b, rec.calls, data.N/w.Batch*epochs)
	if err != nil {
		return nil, err
	}
	res.GemmOnlySamplesPerSec = stepsPerSec * float64(w.Batch)
	return res, nil
}

// head returns the first n rows of d, sharing its memory.
func head(d *mtl.Dataset, n, features int) *mtl.Dataset {
	h := &mtl.Dataset{N: n, X: d.X[:n*features], Groups: d.Groups}
	for _, l := range d.Labels {
		h.Labels = append(h.Labels, l[:n])
	}
	return h
}

// meanLoss is the mean over tasks of the cross-entropy on d.
func meanLoss(b backend.Backend, m *mtl.Model, d *mtl.Dataset) (float64, error) {
	p, err := m.Predict(b, d)
	if err != nil {
		return 0, err
	}
	var total float64
	for t, task := range m.Spec.Tasks {
		k := task.Classes
		var s float64
		for i, y := range d.Labels[t] {
			s -= math.Log(math.Max(float64(p[t][i*k+int(y)]), 1e-15))
		}
		total += s / float64(d.N)
	}
	return total / float64(len(m.Spec.Tasks)), nil
}

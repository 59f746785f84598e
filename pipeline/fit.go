package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/runlog"
)

// Progress receives a training run's progress. Any field may be nil.
type Progress struct {
	// Start is called once the trainer is ready, before the first step.
	Start func(Summary)
	// Step is called after every optimiser step (see mtl.Hooks).
	Step func(epoch, step, steps int)
	// Epoch is called after every epoch, once the model file is saved.
	Epoch func(EpochStats)
}

// Summary describes a run about to train, for a log line.
type Summary struct {
	Device        backend.Device
	Rows, ValRows int
	Inputs        int
	Hidden        []int
	Tasks         int
	Parameters    int
	Epochs        int
	Weighting     mtl.Method
}

// Result is a finished training run.
type Result struct {
	// State is the run's final progress and Last its last epoch.
	State mtl.State
	Last  mtl.EpochStats
	// Seconds is the training time.
	Seconds float64
	// HeldOut is, for the demonstration, the pooled R² of the held-out
	// rows (see metrics.PooledR2), and NaN otherwise; TestRows counts
	// those rows and Groups the schools.
	HeldOut          float64
	TestRows, Groups int
}

// InterruptedError reports a run stopped by its context; the model file
// holds the progress made, from which the run can be resumed exactly.
type InterruptedError struct {
	// Epoch (1-based) and Step locate the stop; Out is the model file.
	Epoch, Step int
	Out         string
	Err         error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted at epoch %d, step %d: saved to %s", e.Epoch, e.Step, e.Out)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// Fit trains the run on b (or continues its checkpoint), saving the model
// file at the end of every epoch and, when ctx is cancelled, at the step
// where it stopped (then returning an *InterruptedError).
func (r *Run) Fit(ctx context.Context, b backend.Backend, p Progress) (*Result, error) {
	var log *runlog.Writer
	if r.Options.Log != "" {
		var err error
		if log, err = runlog.Create(r.Options.Log); err != nil {
			return nil, &OptionError{Option: "log", Value: r.Options.Log, Err: err}
		}
		defer log.Close()
	}
	start := time.Now()
	tr, model, err := r.trainer(b, r.Config)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	if p.Start != nil {
		p.Start(r.summary(b, model))
	}
	res := &Result{HeldOut: math.NaN()}
	err = tr.Fit(ctx, mtl.Hooks{
		Step: p.Step,
		Epoch: func(s mtl.EpochStats) error {
			res.Last = s
			ck, err := tr.Checkpoint()
			if err != nil {
				return err
			}
			if err := r.logEpoch(b, log, s, ck); err != nil {
				return err
			}
			if err := mtl.SaveFile(r.Out, ck, r.meta); err != nil {
				return err
			}
			if p.Epoch != nil {
				p.Epoch(s)
			}
			return nil
		},
	})
	if errors.Is(err, context.Canceled) {
		if serr := r.save(tr); serr != nil {
			return nil, fmt.Errorf("interrupted, and the model could not be saved: %w", serr)
		}
		st := tr.State()
		return nil, &InterruptedError{Epoch: st.Epoch + 1, Step: st.EpochStep, Out: r.Out, Err: err}
	}
	if err != nil {
		return nil, err
	}
	if err := r.save(tr); err != nil {
		return nil, err
	}
	res.State, res.Seconds = tr.State(), time.Since(start).Seconds()
	if r.Demo {
		if res.HeldOut, err = heldOut(b, model, r.Test); err != nil {
			return nil, err
		}
		res.TestRows, res.Groups = r.Test.N, len(r.Schema.Groups)
	}
	return res, nil
}

// trainer makes the trainer of the run with cfg: on the checkpoint's
// model when resuming, on a new one otherwise.
func (r *Run) trainer(b backend.Backend, cfg mtl.Config) (*mtl.Trainer, *mtl.Model, error) {
	model, ckpt := (*mtl.Model)(nil), r.Checkpoint
	var err error
	if ckpt != nil {
		model = ckpt.Model
	} else if model, err = mtl.NewModel(r.Spec, r.Train, cfg.Seed); err != nil {
		return nil, nil, err
	}
	tr, err := mtl.NewTrainer(b, model, cfg, r.Train, r.Val, ckpt)
	return tr, model, err
}

func (r *Run) summary(b backend.Backend, model *mtl.Model) Summary {
	s := Summary{Device: b.Info().Device, Rows: r.Train.N, Inputs: model.Spec.Inputs, Hidden: model.Spec.Hidden,
		Tasks: len(model.Spec.Tasks), Parameters: model.NumParams(), Epochs: r.Config.Epochs, Weighting: r.Config.Weighting.Method}
	if r.Val != nil {
		s.ValRows = r.Val.N
	}
	return s
}

// save writes the trainer's checkpoint to the run's model file.
func (r *Run) save(tr *mtl.Trainer) error {
	ck, err := tr.Checkpoint()
	if err != nil {
		return err
	}
	return mtl.SaveFile(r.Out, ck, r.meta)
}

// heldOut is the pooled R² of the single regression target on d.
func heldOut(b backend.Backend, m *mtl.Model, d *mtl.Dataset) (float64, error) {
	p, err := m.Predict(b, d)
	if err != nil {
		return 0, err
	}
	y, pred := make([]float64, d.N), make([]float64, d.N)
	for i := range y {
		y[i], pred[i] = float64(d.Labels[0][i]), float64(p[0][i])
	}
	v, ok := metrics.PooledR2(y, pred)
	if !ok {
		return math.NaN(), nil
	}
	return v, nil
}

// logEpoch writes one line per epoch to the log: the losses, each task's
// weight and, with a validation set, each task's validation metric for the
// parameters at the end of the epoch.
func (r *Run) logEpoch(b backend.Backend, log *runlog.Writer, s mtl.EpochStats, ck *mtl.Checkpoint) error {
	if log == nil {
		return nil
	}
	line := runlog.Line{Epoch: s.Epoch, Seconds: s.Seconds, TrainLoss: runlog.Float(s.TrainLoss), ValLoss: runlog.Float(s.ValLoss),
		LR: s.LR, Tasks: map[string]map[string]*float64{}, GradCosine: runlog.Float(s.GradCosine), Conflict: runlog.Float(s.Conflict)}
	for i, t := range r.Spec.Tasks {
		line.Tasks[t.Name] = map[string]*float64{
			"train_loss": runlog.Float(s.TaskTrain[i]),
			"val_loss":   runlog.Float(at(s.TaskVal, i)),
			"weight":     runlog.Float(s.Weights[i]),
		}
	}
	if r.Val != nil {
		params := ck.Model.Params
		if ck.Current != nil {
			params = ck.Current
		}
		m := &mtl.Model{Spec: ck.Model.Spec, Params: params}
		preds, err := m.Predict(b, r.Val)
		if err != nil {
			return err
		}
		for i, t := range r.Spec.Tasks {
			name, v := primaryMetric(t, r.Val.Labels[i], preds[i])
			line.Tasks[t.Name]["val_"+name] = runlog.Float(v)
		}
	}
	return log.Write(line)
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}

// primaryMetric is the headline metric of a task on labelled rows:
// accuracy (multiclass), AUC (binary) or RMSE in the target's units
// (regression).
func primaryMetric(t mtl.Task, labels, preds []float32) (string, float64) {
	y, p := float64s(labels), float64s(preds)
	var m metrics.TaskMetrics
	name := "rmse"
	switch t.Type {
	case mtl.Multiclass:
		classes := make([]int, len(y))
		for i, v := range y {
			classes[i] = -1
			if !math.IsNaN(v) {
				classes[i] = int(v)
			}
		}
		m, name = metrics.Multiclass(classes, p, t.Classes), "accuracy"
	case mtl.Binary:
		m, name = metrics.Binary(y, p), "auc"
	default:
		m = metrics.Regression(y, p)
	}
	v, ok := m.Get(name)
	if !ok {
		v = math.NaN()
	}
	return name, v
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// EpochStats reports one epoch of training (see mtl.EpochStats).
type EpochStats = mtl.EpochStats

// ChoosesWidth reports whether the run chooses its shared width by
// validation (Options.AutoWidth on a new run) before Fit.
func (r *Run) ChoosesWidth() bool { return r.Options.AutoWidth && r.Checkpoint == nil }

// DivergedError reports a run whose loss became NaN or infinite (see
// mtl.DivergedError).
type DivergedError = mtl.DivergedError

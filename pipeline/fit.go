package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
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
	// AllReduce says what carries the all-reduce of a data-parallel run
	// (see mtl.Trainer.Via); empty alone.
	AllReduce string
}

// Result is a finished training run.
type Result struct {
	// State is the run's final progress and Last its last epoch.
	State mtl.State
	Last  EpochStats
	// Seconds is the training time.
	Seconds float64
	// HeldOut is, for the demonstration, the pooled R² of the held-out
	// rows (see metrics.PooledR2), and NaN otherwise; TestRows counts
	// those rows and Groups the schools.
	HeldOut          float64
	TestRows, Groups int
	// ConstantLoss is the loss of the constant predictor that the run
	// beat (see NoBetterError).
	ConstantLoss float64
	// StillImproving is set when the run used its whole budget of epochs
	// and its last epoch was its best by validation loss: more epochs
	// would probably help.
	StillImproving bool
	// OutOfFold scores, for a cross-validated run, every training row with
	// the member that did not learn from it; nil otherwise.
	OutOfFold *metrics.Report
}

// EpochStats reports one epoch of training: the trainer's figures (see
// mtl.EpochStats) and each task's headline validation metric.
type EpochStats struct {
	mtl.EpochStats
	// Metrics holds each task's validation metric for the parameters at
	// the end of the epoch, in task order; nil without validation rows.
	Metrics []TaskMetric
}

// InterruptedError reports a run stopped by its context. When Saved, the
// model file holds the progress made, from which the run can be resumed
// exactly; it is not saved when the model file held another model that
// the run has not yet beaten (see NoBetterError).
type InterruptedError struct {
	// Epoch (1-based) and Step locate the stop; Out is the model file.
	Epoch, Step int
	Out         string
	Saved       bool
	// Candidate describes, for a run interrupted while searching its
	// configuration (Run.Tune), the trial saved.
	Candidate string
	Err       error
}

func (e *InterruptedError) Error() string {
	switch {
	case !e.Saved:
		return fmt.Sprintf("interrupted at epoch %d, step %d: nothing saved, since the run had not yet beaten a constant prediction and %s holds an earlier model", e.Epoch, e.Step, e.Out)
	case e.Candidate != "":
		return fmt.Sprintf("interrupted while searching the configuration: the best candidate so far (%s) saved to %s", e.Candidate, e.Out)
	}
	return fmt.Sprintf("interrupted at epoch %d, step %d: saved to %s", e.Epoch, e.Step, e.Out)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// SaveEvery is the least time between two saves of the model file during
// a run: a run of many short epochs saves at the end of the first epoch,
// then at the end of an epoch at most this often, and at its end.
const SaveEvery = 5 * time.Second

// Fit trains the run on b (or continues its checkpoint), saving the model
// file at the end of epochs (see SaveEvery), at the end and, when ctx is
// cancelled, at the step where it stopped (then returning an
// *InterruptedError). It holds the
// model file's lock (see package internal/atomicfile) until it returns: a
// second run writing the same file fails at once. A run whose best loss
// does not beat the constant predictor returns a *NoBetterError, and an
// existing model file is only replaced by a run that beats it, unless
// Options.Force.
func (r *Run) Fit(ctx context.Context, b backend.Backend, p Progress) (*Result, error) {
	if r.writes() {
		if err := r.acquire(); err != nil {
			return nil, err
		}
		defer r.release()
	}
	var log *runlog.Writer
	if r.Options.Log != "" && r.writes() {
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
		s := r.summary(b, model)
		s.AllReduce = tr.Via()
		p.Start(s)
	}
	res := &Result{HeldOut: math.NaN(), ConstantLoss: r.constantLoss(model)}
	best, epochs := math.Inf(1), 0
	if r.Val != nil && r.Checkpoint != nil {
		best = r.Checkpoint.State.BestVal
	}
	var saved time.Time
	err = tr.Fit(ctx, mtl.Hooks{
		Step:  p.Step,
		Judge: r.judge(b),
		Epoch: func(s mtl.EpochStats) error {
			ck, err := tr.Checkpoint()
			if err != nil {
				return err
			}
			es := EpochStats{EpochStats: s}
			if es.Metrics, err = r.valMetrics(b, ck); err != nil {
				return err
			}
			res.Last, epochs = es, epochs+1
			if s.Best && es.Metrics != nil {
				r.Record.Best = es.Metrics
			}
			if err := r.logEpoch(log, es); err != nil {
				return err
			}
			best = min(best, judged(s, r.Val != nil))
			if r.mayWrite(best, res.ConstantLoss) && time.Since(saved) >= SaveEvery {
				if err := r.saveCheckpoint(ck); err != nil {
					return err
				}
				saved = time.Now()
			}
			if p.Epoch != nil {
				p.Epoch(es)
			}
			return nil
		},
	})
	if errors.Is(err, context.Canceled) {
		return nil, r.interrupted(tr, err, best, res.ConstantLoss)
	}
	if err != nil {
		return nil, err
	}
	res.State, res.Seconds = tr.State(), time.Since(start).Seconds()
	if r.Val != nil {
		best = res.State.BestVal
	}
	if (epochs > 0 || r.Val != nil) && !(best < res.ConstantLoss) {
		nb := &NoBetterError{Best: best, Constant: res.ConstantLoss, Validation: r.Val != nil, LR: r.Config.LR, Out: r.Out, Saved: !r.protect}
		if nb.Saved {
			if err := r.save(tr); err != nil {
				return nil, err
			}
		}
		return nil, nb
	}
	if err := r.save(tr); err != nil {
		return nil, err
	}
	res.StillImproving = r.Val != nil && res.State.BestEpoch == res.State.Epoch && res.State.Epoch == r.Config.Epochs && epochs > 0
	if r.folds != nil {
		if res.OutOfFold, err = r.outOfFold(b, model); err != nil {
			return nil, err
		}
	}
	if r.Demo && r.Test != nil {
		if res.HeldOut, err = heldOut(b, model, r.Test, r.Schema.Targets[0].Offset); err != nil {
			return nil, err
		}
		res.TestRows, res.Groups = r.Test.N, len(r.Schema.Groups)
	}
	return res, nil
}

// judged is the loss that judges an epoch: its validation loss, or its
// training loss without validation rows.
func judged(s mtl.EpochStats, validation bool) float64 {
	if validation {
		return s.ValLoss
	}
	return s.TrainLoss
}

// interrupted saves the progress of an interrupted run, unless that would
// replace an earlier model with one no better than a constant, and
// returns the *InterruptedError.
func (r *Run) interrupted(tr *mtl.Trainer, cause error, best, constant float64) error {
	saved := r.mayWrite(best, constant)
	if saved {
		if err := r.save(tr); err != nil {
			return fmt.Errorf("interrupted, and the model could not be saved: %w", err)
		}
	}
	st := tr.State()
	return &InterruptedError{Epoch: st.Epoch + 1, Step: st.EpochStep, Out: r.Out, Saved: saved, Err: cause}
}

// mayWrite reports whether the model file may be written, given the
// run's best loss so far: always, unless it held another model before
// the run, which only a run better than a constant prediction replaces.
func (r *Run) mayWrite(best, constant float64) bool {
	return !r.protect || best < constant
}

// writes reports whether this process writes the run's files: always,
// but in a data-parallel run only rank 0.
func (r *Run) writes() bool { return r.Options.Group == nil || r.Options.Group.Rank() == 0 }

// acquire takes the lock of the run's model file for the whole run.
func (r *Run) acquire() error {
	if r.lock != nil {
		return nil
	}
	l, err := atomicfile.Acquire(r.Out)
	if err != nil {
		return err
	}
	r.lock = l
	return nil
}

// constantLoss is the constant predictor's loss on the rows that judge the
// run, recorded in the model file: the validation rows, or the training
// rows with their labels smoothed as the training loss smooths them.
func (r *Run) constantLoss(model *mtl.Model) float64 {
	fits := r.trainingFits(model.Spec)
	var c float64
	switch {
	case r.Val != nil:
		c = constantLossOn(model.Spec, fits, r.Val, 0)
	case r.Train != nil:
		c = constantLossOn(model.Spec, fits, r.Train, r.Config.LabelSmoothing)
	default:
		c = constantSelfLoss(model.Spec, fits, r.Config.LabelSmoothing)
	}
	r.Record.ConstantLoss = &c
	return c
}

// trainer makes the trainer of the run with cfg: on the checkpoint's
// model when resuming, on a new one otherwise; from the stream of a
// streamed run.
func (r *Run) trainer(b backend.Backend, cfg mtl.Config) (*mtl.Trainer, *mtl.Model, error) {
	model, ckpt := (*mtl.Model)(nil), r.Checkpoint
	var err error
	switch {
	case ckpt != nil:
		model = ckpt.Model
	case r.streamed != nil:
		model, err = mtl.NewModelFromStats(r.Spec, r.streamed.LabelStats(), cfg.Seed)
	default:
		model, err = mtl.NewModel(r.Spec, r.Train, cfg.Seed)
	}
	if err != nil {
		return nil, nil, err
	}
	var tr *mtl.Trainer
	if r.streamed != nil {
		tr, err = mtl.NewStreamTrainer(b, model, cfg, r.streamed, r.streamed.Window(), r.Val, ckpt)
	} else {
		tr, err = mtl.NewTrainer(b, model, cfg, r.Train, r.Val, ckpt)
	}
	if err == nil && r.Options.Group != nil {
		if err = tr.Distribute(r.Options.Group); err != nil {
			tr.Close()
		}
	}
	return tr, model, err
}

func (r *Run) summary(b backend.Backend, model *mtl.Model) Summary {
	s := Summary{Device: b.Info().Device, Rows: r.TrainRows(), Inputs: model.Spec.Inputs, Hidden: model.Spec.Hidden,
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
	return r.saveCheckpoint(ck)
}

// saveCheckpoint writes a checkpoint, with the run's record, to the run's
// model file.
func (r *Run) saveCheckpoint(ck *mtl.Checkpoint) error {
	if !r.writes() {
		return nil
	}
	rec, err := json.Marshal(r.Record)
	if err != nil {
		return err
	}
	ck.Run = rec
	return mtl.SaveFile(r.Out, ck, r.meta)
}

// heldOut is the pooled R² of the single regression target (whose
// offset is given) on d.
func heldOut(b backend.Backend, m *mtl.Model, d *mtl.Dataset, offset float64) (float64, error) {
	p, err := m.Predict(b, d)
	if err != nil {
		return 0, err
	}
	v, ok := metrics.PooledR2(withOffset(d.Labels[0], offset), withOffset(p[0], offset))
	if !ok {
		return math.NaN(), nil
	}
	return v, nil
}

// valMetrics computes each task's headline metric on the validation rows
// for the parameters of a checkpoint taken at the end of an epoch; nil
// without validation rows.
func (r *Run) valMetrics(b backend.Backend, ck *mtl.Checkpoint) ([]TaskMetric, error) {
	if r.Val == nil {
		return nil, nil
	}
	params := ck.Model.Params
	if ck.Current != nil {
		params = ck.Current
	}
	m := &mtl.Model{Spec: ck.Model.Spec, Params: params}
	preds, err := r.validationPredictions(b, m)
	if err != nil {
		return nil, err
	}
	out := make([]TaskMetric, len(r.Spec.Tasks))
	for i, t := range r.Spec.Tasks {
		name, v := primaryMetric(t, r.Schema.Targets[i].Offset, r.Val.Labels[i], preds[i])
		out[i] = TaskMetric{Task: t.Name, Metric: name, Value: v}
	}
	return out, nil
}

// validationPredictions predicts the validation rows: with the model, or,
// cross-validated, each row with the member that validates on it.
func (r *Run) validationPredictions(b backend.Backend, m *mtl.Model) ([][]float32, error) {
	if r.folds == nil {
		return m.Predict(b, r.Val)
	}
	per, err := m.PredictMembers(b, r.Val)
	if err != nil {
		return nil, err
	}
	return outOfFold(per, r.folds, m.Spec), nil
}

// logEpoch writes one line per epoch to the log: the losses, each task's
// weight and, with a validation set, each task's validation metric for the
// parameters at the end of the epoch.
func (r *Run) logEpoch(log *runlog.Writer, s EpochStats) error {
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
	for _, m := range s.Metrics {
		line.Tasks[m.Task]["val_"+m.Metric] = runlog.Float(m.Value)
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
// (regression, offset added back to labels and predictions).
func primaryMetric(t mtl.Task, offset float64, labels, preds []float32) (string, float64) {
	y, p := float64s(labels), float64s(preds)
	if t.Type == mtl.Regression {
		y, p = withOffset(labels, offset), withOffset(preds, offset)
	}
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

// withOffset returns regression labels or predictions in the target's
// units: each value in float64 plus the target's offset (see
// data.Target.Offset).
func withOffset(v []float32, offset float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x) + offset
	}
	return out
}

// DivergedError reports a run whose loss became NaN or infinite (see
// mtl.DivergedError).
type DivergedError = mtl.DivergedError

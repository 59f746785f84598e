package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Tuning (Options.Tune, Run.Tune) searches the configuration of a new run
// by successive halving (Jamieson & Talwalkar 2016; one bracket of Li et
// al.'s Hyperband): rung 0 trains every trial briefly, each rung keeps the
// best ⌈n/TuneEta⌉ of its n trials by validation score and trains them
// TuneEta times longer, until one remains, which Run.Fit then trains to
// the run's whole budget (its epochs and early stopping). With R rungs
// before that last one, rung k trains
//
//	epochs_k = max(1, round(E / TuneEta^(R−k)))   (E: the run's epochs)
//
// every trial from scratch with the run's seed, so that the learning-rate
// schedule spans the rung's budget and trials differ by their
// configuration alone. A trial is judged by the score that picks the
// run's best epoch (the validation loss, or Options.Metric turned into a
// score, lower is better: see judge.go), of its best epoch in the rung;
// a cross-fitted run's trial is one member per fold, judged by the mean
// of the folds' scores. A trial whose loss diverges scores +Inf.
//
// Within a rung, the trials of one shape (their shared layers: what
// changes the model's Spec) train together as one batched model, one
// member per trial with its own learning rate, weight decay and dropout
// (mtl.Config.MemberSettings), every member from the initial weights and
// with the dropout masks of a one-member model of the run's seed, so that
// each trains as it would alone and is scored by its own best epoch. The
// shapes' groups (of at most maxTuneBatch trials) train one after another;
// a group whose loss diverges trains again one trial at a time. Trials of
// a cross-fitted run (already one member per fold) and of a streamed run
// train one after another.
const (
	TuneEta           = 3
	DefaultTuneTrials = 32
)

// TuneSpace is a search space: each configuration takes one value of
// every list, and an empty list keeps the run's own value. The shared
// layers are Depth layers of one Width.
type TuneSpace struct {
	Widths       []int
	Depths       []int
	Dropouts     []float64
	WeightDecays []float64
	// LRFactors multiply the run's learning rate.
	LRFactors []float64
}

// DefaultTuneSpace is what Options.Tune searches: 4 widths × 2 depths ×
// 3 dropout rates × 4 weight decays × 3 learning rates, 288
// configurations. The weight decays are those of AdamW's decoupled decay
// around its default 1e-2 (for SGD and Adam they are L2 coefficients);
// the learning rates are a third of the run's, the run's and thrice it.
// The encoding of numeric inputs is the run's: the data is encoded once.
var DefaultTuneSpace = TuneSpace{
	Widths:       []int{64, 128, 256, 512},
	Depths:       []int{1, 2},
	Dropouts:     []float64{0, 0.1, 0.2},
	WeightDecays: []float64{0, 1e-3, 1e-2, 1e-1},
	LRFactors:    []float64{1.0 / 3, 1, 3},
}

// AutoSpace is what --hidden auto (Options.AutoWidth) searches, every
// point of it: one shared layer of each of AutoWidths with each of
// AutoDecays.
var AutoSpace = TuneSpace{Widths: AutoWidths, Depths: []int{1}, WeightDecays: AutoDecays}

// TrialConfig is one configuration of a search.
type TrialConfig struct {
	// Hidden are the widths of the shared layers.
	Hidden      []int   `json:"hidden"`
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	Dropout     float64 `json:"dropout"`
}

// String writes the configuration in words, as errors and notes name it.
func (c TrialConfig) String() string {
	return fmt.Sprintf("hidden %s, lr %g, weight decay %g, dropout %g", WidthsText(c.Hidden), c.LR, c.WeightDecay, c.Dropout)
}

// WidthsText writes layer widths as --hidden takes them: "256,256", or
// "none".
func WidthsText(h []int) string {
	if len(h) == 0 {
		return "none"
	}
	parts := make([]string, len(h))
	for i, w := range h {
		parts[i] = fmt.Sprint(w)
	}
	return strings.Join(parts, ",")
}

// Trial is one configuration of a search and how far it went.
type Trial struct {
	TrialConfig
	// Index is the trial's place in the order drawn, from 0.
	Index int `json:"index"`
	// Rung is the last rung that trained it (from 0), Epochs that rung's
	// budget and Score its best validation score there (lower is better;
	// +Inf when it diverged or was stopped before its first epoch; NaN
	// when the search stopped before reaching it).
	Rung   int     `json:"rung"`
	Epochs int     `json:"epochs"`
	Score  float64 `json:"-"`
	// Chosen marks the survivor, which the run trains to its whole budget
	// (TuneRecord.Epochs) in the last rung, or, in an interrupted search,
	// the best trial so far, which the model file holds.
	Chosen bool `json:"chosen,omitempty"`
}

// MarshalJSON writes a score that is not finite as null.
func (t Trial) MarshalJSON() ([]byte, error) {
	type plain Trial
	var score *float64
	if finite(t.Score) {
		score = &t.Score
	}
	return json.Marshal(struct {
		plain
		Score *float64 `json:"score"`
	}{plain(t), score})
}

// UnmarshalJSON reads a null score as +Inf.
func (t *Trial) UnmarshalJSON(b []byte) error {
	type plain Trial
	var v struct {
		plain
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = Trial(v.plain)
	t.Score = math.Inf(1)
	if v.Score != nil {
		t.Score = *v.Score
	}
	return nil
}

// TuneRecord is a search and its outcome, as the model file records it
// (Record.Tune).
type TuneRecord struct {
	// Eta is the factor of successive halving and Rungs the number of
	// rungs, the last one (the chosen trial trained to the run's budget)
	// included.
	Eta   int `json:"eta"`
	Rungs int `json:"rungs"`
	// Epochs is the run's budget, which the last rung trains.
	Epochs int `json:"epochs"`
	// Score names what scores a trial ("validation loss", "1 − AUC", …).
	Score string `json:"score"`
	// Trials are every configuration searched, in the order drawn; the
	// first is the run's own configuration (but for --hidden auto's
	// grid).
	Trials []Trial `json:"trials"`
	// Interrupted is set when the search was stopped: the model file then
	// holds the best trial so far.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Chosen returns the chosen trial, or nil.
func (t *TuneRecord) Chosen() *Trial {
	for i := range t.Trials {
		if t.Trials[i].Chosen {
			return &t.Trials[i]
		}
	}
	return nil
}

// Leaderboard returns the trials best first: by the rung reached, then by
// score, then in the order drawn.
func (t *TuneRecord) Leaderboard() []Trial {
	board := slices.Clone(t.Trials)
	slices.SortStableFunc(board, func(a, b Trial) int {
		if a.Chosen != b.Chosen {
			if a.Chosen {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.Rung, a.Rung); c != 0 {
			return c
		}
		return cmpScore(a.Score, b.Score)
	})
	return board
}

// cmpScore orders scores lower first, NaN last.
func cmpScore(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// scoreName names the score of a metric (see judge.go).
func scoreName(metric string) string {
	switch metric {
	case MetricAUC:
		return "1 − AUC"
	case MetricAccuracy:
		return "1 − accuracy"
	case MetricLogLoss:
		return "log loss"
	case MetricRMSE:
		return "RMSE/std"
	case MetricR2:
		return "1 − R²"
	}
	return "validation loss"
}

// Tunes reports whether the run searches its configuration (Run.Tune)
// before Fit: a new run with Options.Tune or Options.AutoWidth.
func (r *Run) Tunes() bool {
	return (r.Options.Tune > 0 || r.Options.AutoWidth) && r.Checkpoint == nil
}

// space returns the run's search space and the configurations to try:
// for --hidden auto, every point of AutoSpace in order; otherwise the
// run's own configuration and Options.Tune − 1 others drawn without
// replacement by the run's seed (all of them, when the space is smaller).
func (r *Run) space() []TrialConfig {
	base := TrialConfig{Hidden: slices.Clone(r.Spec.Hidden), LR: r.Config.LR, WeightDecay: r.Config.WeightDecay, Dropout: r.Config.Dropout}
	if r.Options.AutoWidth {
		return AutoSpace.configs(base)
	}
	all := DefaultTuneSpace.configs(base)
	rng := rand.New(rand.NewPCG(r.Config.Seed, 0x74756e65)) // "tune"
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	out := []TrialConfig{base}
	for _, c := range all {
		if len(out) == r.Options.Tune {
			break
		}
		if !c.equal(base) {
			out = append(out, c)
		}
	}
	return out
}

func (c TrialConfig) equal(o TrialConfig) bool {
	return slices.Equal(c.Hidden, o.Hidden) && c.LR == o.LR && c.WeightDecay == o.WeightDecay && c.Dropout == o.Dropout
}

// configs lists every configuration of the space, empty lists taking
// base's value, in the order of the lists (width slowest).
func (s TuneSpace) configs(base TrialConfig) []TrialConfig {
	or := func(v []float64, d float64) []float64 {
		if len(v) == 0 {
			return []float64{d}
		}
		return v
	}
	type shape struct{ hidden []int }
	shapes := []shape{{base.Hidden}}
	if len(s.Widths) > 0 {
		shapes = nil
		depths := s.Depths
		if len(depths) == 0 {
			depths = []int{max(len(base.Hidden), 1)}
		}
		for _, w := range s.Widths {
			for _, d := range depths {
				shapes = append(shapes, shape{slices.Repeat([]int{w}, d)})
			}
		}
	}
	var out []TrialConfig
	for _, sh := range shapes {
		for _, wd := range or(s.WeightDecays, base.WeightDecay) {
			for _, p := range or(s.Dropouts, base.Dropout) {
				for _, f := range or(s.LRFactors, 1) {
					lr, _ := strconv.ParseFloat(strconv.FormatFloat(base.LR*f, 'g', 12, 64), 64) // 0.009, not 0.009000000000000001
					out = append(out, TrialConfig{Hidden: sh.hidden, LR: lr, WeightDecay: wd, Dropout: p})
				}
			}
		}
	}
	return out
}

// largestHidden returns the widest shared layers the run may train, for
// the memory estimate of a new run.
func (r *Run) largestHidden() []int {
	switch {
	case r.Options.AutoWidth:
		return []int{slices.Max(AutoWidths)}
	case r.Options.Tune > 0:
		h := slices.Repeat([]int{slices.Max(DefaultTuneSpace.Widths)}, slices.Max(DefaultTuneSpace.Depths))
		if widthSum(r.Spec.Hidden) > widthSum(h) {
			h = r.Spec.Hidden
		}
		return h
	}
	return r.Spec.Hidden
}

func widthSum(h []int) int {
	s := 0
	for _, w := range h {
		s += w
	}
	return s
}

// rungSizes are the number of trials of each rung: n, ⌈n/η⌉, … down to 1.
func rungSizes(n, eta int) []int {
	sizes := []int{n}
	for n > 1 {
		n = (n + eta - 1) / eta
		sizes = append(sizes, n)
	}
	return sizes
}

// rungEpochs is the budget of each rung of a search of that many rungs
// (the last one included) with the run's epochs.
func rungEpochs(epochs, rungs, eta int) []int {
	out := make([]int, rungs)
	for k := range out {
		out[k] = max(1, int(math.Round(float64(epochs)/math.Pow(float64(eta), float64(rungs-1-k)))))
	}
	return out
}

// trialFunc trains one configuration for a number of epochs and returns
// its score and checkpoint (also when interrupted; nil on an error).
type trialFunc func(ctx context.Context, c TrialConfig, epochs int) (float64, *mtl.Checkpoint, error)

// groupFunc trains configurations of one shape together for a number of
// epochs and returns each one's score and checkpoint (also when
// interrupted; nil on an error).
type groupFunc func(ctx context.Context, cs []TrialConfig, epochs int) ([]float64, []*mtl.Checkpoint, error)

// maxTuneBatch bounds the trials trained together as one model, and so the
// memory of a batch.
const maxTuneBatch = 16

// Tune searches the run's configuration by successive halving (see
// TuneEta) over DefaultTuneSpace (AutoSpace for --hidden auto), sets the
// run's shared layers, learning rate, weight decay and dropout to those of
// the survivor, which Fit then trains to the run's budget (an ensemble of
// Options.Ensemble members from the survivor's configuration: a trial is
// one model, or one member of its shape's batch), and records the search (Record.Tune). It returns
// the search. When ctx is cancelled it saves the best trial so far (by
// score, whatever its rung) to the run's model file, with the run's
// epochs as its budget so that --resume continues it to them, and returns
// an *InterruptedError.
func (r *Run) Tune(ctx context.Context, b backend.Backend) (*TuneRecord, error) {
	return r.tune(ctx, b, true)
}

// tune is Tune, with the trials of a shape trained together when batched
// is set and the run allows it, one at a time otherwise.
func (r *Run) tune(ctx context.Context, b backend.Backend, batched bool) (*TuneRecord, error) {
	if r.Val == nil {
		return nil, r.tuneOptionError("a search by validation needs validation rows")
	}
	if err := r.acquire(); err != nil {
		return nil, err
	}
	members := r.Spec.Members
	if r.Options.Ensemble > 1 {
		r.Spec.Members = 0
	}
	defer func() { r.Spec.Members = members }()
	judge := r.judge(b)
	alone := r.trialAlone(b, judge)
	var together groupFunc
	if batched && r.Spec.Members <= 1 && r.streamed == nil {
		together = func(ctx context.Context, cs []TrialConfig, epochs int) ([]float64, []*mtl.Checkpoint, error) {
			return r.fitGroup(ctx, b, cs, epochs, judge, alone)
		}
	}
	rec, err := r.search(ctx, r.space(), alone, together)
	r.Spec.Members = members
	return rec, err
}

// trialAlone returns the trialFunc that trains one configuration as a
// model of its own; a trial whose loss diverges scores +Inf.
func (r *Run) trialAlone(b backend.Backend, judge func(*mtl.Model) ([]float64, error)) trialFunc {
	return func(ctx context.Context, c TrialConfig, epochs int) (float64, *mtl.Checkpoint, error) {
		cfg := r.apply(c)
		cfg.Epochs = epochs
		st, ck, err := r.fitCandidate(ctx, b, cfg, judge)
		var div *mtl.DivergedError
		if errors.As(err, &div) {
			return math.Inf(1), nil, nil
		}
		return st.BestScore, ck, err
	}
}

// fitGroup trains configurations of one shape as the members of one model
// (Config.MemberSettings), each from the initial parameters and with the
// dropout masks of a model of one member of the run's seed, so that each
// member trains as its configuration would alone, and returns each one's
// best score and its checkpoint as a model of one member. A group whose
// loss diverges is trained again one configuration at a time by alone, so
// that only the diverging ones score +Inf.
func (r *Run) fitGroup(ctx context.Context, b backend.Backend, cs []TrialConfig, epochs int, judge func(*mtl.Model) ([]float64, error), alone trialFunc) ([]float64, []*mtl.Checkpoint, error) {
	base := r.Config.LR
	cfg := r.apply(cs[0])
	cfg.Epochs, cfg.LR = epochs, base
	seed := cfg.Seed
	for _, c := range cs {
		cfg.MemberSettings = append(cfg.MemberSettings, mtl.MemberSetting{LRFactor: c.LR / base, WeightDecay: c.WeightDecay, Dropout: c.Dropout, DropoutSeed: &seed})
	}
	one, err := mtl.NewModel(r.Spec, r.Train, seed)
	if err != nil {
		return nil, nil, err
	}
	model := &mtl.Model{Spec: one.Spec, Params: slices.Repeat(one.Params, len(cs))}
	model.Spec.Members = len(cs)
	tr, err := mtl.NewTrainer(b, model, cfg, r.Train, r.Val, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tr.Close()
	err = tr.Fit(ctx, mtl.Hooks{Judge: judge})
	if errors.Is(err, mtl.ErrDiverged) {
		tr.Close()
		var scores []float64
		var cks []*mtl.Checkpoint
		for _, c := range cs {
			s, ck, err := alone(ctx, c, epochs)
			scores, cks = append(scores, s), append(cks, ck)
			if err != nil {
				return scores, cks, err
			}
		}
		return scores, cks, nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, nil, err
	}
	ck, cerr := tr.Checkpoint()
	if cerr != nil {
		return nil, nil, cerr
	}
	scores, cks := make([]float64, len(cs)), make([]*mtl.Checkpoint, len(cs))
	for m := range cs {
		scores[m] = ck.State.Members[m].BestScore
		if cks[m], cerr = ck.Member(m); cerr != nil {
			return nil, nil, cerr
		}
	}
	return scores, cks, err
}

// tuneOptionError names the option that asked for the search.
func (r *Run) tuneOptionError(format string, a ...any) error {
	if r.Options.AutoWidth {
		return optionErrorf("hidden", "auto", format, a...)
	}
	return optionErrorf("tune", fmt.Sprint(r.Options.Tune), format, a...)
}

// apply sets the run's shared layers to c's and returns the run's
// configuration with c's learning rate, weight decay and dropout.
func (r *Run) apply(c TrialConfig) mtl.Config {
	r.Spec.Hidden = slices.Clone(c.Hidden)
	cfg := r.Config
	cfg.LR, cfg.WeightDecay, cfg.Dropout = c.LR, c.WeightDecay, c.Dropout
	return cfg
}

// search runs successive halving over the configurations, leaving the
// survivor applied to the run. Each rung trains its trials of one shape
// (their shared layers) together by together, at most maxTuneBatch at a
// time, the groups one after another, and a trial alone by train; with
// together nil every trial trains alone.
func (r *Run) search(ctx context.Context, configs []TrialConfig, train trialFunc, together groupFunc) (*TuneRecord, error) {
	sizes := rungSizes(len(configs), TuneEta)
	epochs := rungEpochs(r.Config.Epochs, len(sizes), TuneEta)
	rec := &TuneRecord{Eta: TuneEta, Rungs: len(sizes), Epochs: r.Config.Epochs, Score: scoreName(r.Record.Metric)}
	for _, c := range configs {
		rec.Trials = append(rec.Trials, Trial{TrialConfig: c, Index: len(rec.Trials), Rung: 0, Epochs: epochs[0], Score: math.NaN()})
	}
	alive := make([]int, len(configs))
	for i := range alive {
		alive[i] = i
	}
	best, bestCk := -1, (*mtl.Checkpoint)(nil)
	for k := 0; k < len(sizes)-1; k++ {
		for _, group := range shapeGroups(rec.Trials, alive, together != nil) {
			var scores []float64
			var cks []*mtl.Checkpoint
			var err error
			cs := make([]TrialConfig, len(group))
			for j, i := range group {
				t := &rec.Trials[i]
				t.Rung, t.Epochs = k, epochs[k]
				cs[j] = t.TrialConfig
			}
			if len(group) == 1 {
				var score float64
				var ck *mtl.Checkpoint
				score, ck, err = train(ctx, cs[0], epochs[k])
				scores, cks = []float64{score}, []*mtl.Checkpoint{ck}
			} else {
				scores, cks, err = together(ctx, cs, epochs[k])
			}
			interrupted := errors.Is(err, context.Canceled)
			if err != nil && !interrupted {
				return rec, fmt.Errorf("tuning: %s: %w", trialsText(rec.Trials, group), err)
			}
			for j, score := range scores {
				i := group[j]
				t := &rec.Trials[i]
				t.Score = score
				if math.IsNaN(score) {
					t.Score = math.Inf(1)
				}
				if ck := cks[j]; ck != nil && (best < 0 || t.Score < rec.Trials[best].Score) {
					best, bestCk = i, ck
				}
			}
			if interrupted {
				return rec, r.saveTrial(rec, best, bestCk, err)
			}
		}
		slices.SortStableFunc(alive, func(a, b int) int { return cmpScore(rec.Trials[a].Score, rec.Trials[b].Score) })
		alive = alive[:sizes[k+1]]
	}
	chosen := &rec.Trials[alive[0]]
	chosen.Chosen = true
	r.Config = r.apply(chosen.TrialConfig)
	r.Record.Tune = rec
	return rec, nil
}

// shapeGroups splits the trials alive (indices of trials, in order) into
// the groups a rung trains: with batched set, the trials of each shape in
// the order of the shape's first trial, in batches of at most maxTuneBatch;
// otherwise one trial a group.
func shapeGroups(trials []Trial, alive []int, batched bool) [][]int {
	var groups [][]int
	if !batched {
		for _, i := range alive {
			groups = append(groups, []int{i})
		}
		return groups
	}
	open := map[string]int{} // shape → its group being filled
	for _, i := range alive {
		shape := WidthsText(trials[i].Hidden)
		g, ok := open[shape]
		if !ok || len(groups[g]) == maxTuneBatch {
			g = len(groups)
			groups = append(groups, nil)
			open[shape] = g
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// trialsText names the trials of a group, as errors name them.
func trialsText(trials []Trial, group []int) string {
	if len(group) == 1 {
		t := trials[group[0]]
		return fmt.Sprintf("trial %d (%s)", t.Index+1, t.TrialConfig)
	}
	nums := make([]string, len(group))
	for j, i := range group {
		nums[j] = fmt.Sprint(trials[i].Index + 1)
	}
	return fmt.Sprintf("trials %s (hidden %s, trained together)", strings.Join(nums, ", "), WidthsText(trials[group[0]].Hidden))
}

// saveTrial saves the best trial of an interrupted search as the run's
// model, with the run's epochs as its budget, and returns the
// *InterruptedError that says so.
func (r *Run) saveTrial(rec *TuneRecord, best int, ck *mtl.Checkpoint, cause error) error {
	rec.Interrupted = true
	if best < 0 {
		return &InterruptedError{Epoch: 1, Out: r.Out, Err: cause}
	}
	t := &rec.Trials[best]
	t.Chosen = true
	r.Config = r.apply(t.TrialConfig)
	ck.Config.Epochs = r.Config.Epochs
	r.Record.Tune = rec
	ie := &InterruptedError{Epoch: ck.State.Epoch + 1, Step: ck.State.EpochStep, Out: r.Out, Err: cause,
		Candidate: fmt.Sprintf("%s, %d epochs", t.TrialConfig, ck.State.Epoch)}
	if !r.mayWrite(ck.State.BestVal, r.constantLoss(ck.Model)) {
		return ie
	}
	if err := r.saveCheckpoint(ck); err != nil {
		return fmt.Errorf("interrupted, and the best trial could not be saved: %w", err)
	}
	ie.Saved = true
	return ie
}

// tuneText describes the search that chose the model's configuration.
func (d *Description) tuneText(b *strings.Builder) {
	if d.Data == nil || d.Data.Tune == nil {
		return
	}
	t := d.Data.Tune
	fmt.Fprintf(b, "\ntuning\n  successive halving of %d trials (η = %d, %d rungs, the last of %d epochs) by %s\n", len(t.Trials), t.Eta, t.Rungs, t.Epochs, t.Score)
	if c := t.Chosen(); c != nil {
		what := "chosen"
		if t.Interrupted {
			what = "interrupted; the best trial so far saved"
		}
		fmt.Fprintf(b, "  %s: trial %d, %s (score %.5g in rung %d of %d epochs)\n", what, c.Index+1, c.TrialConfig, c.Score, c.Rung+1, c.Epochs)
	}
}

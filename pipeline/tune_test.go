package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

func TestTuneRungs(t *testing.T) {
	for _, c := range []struct {
		n, eta int
		want   []int
	}{{32, 3, []int{32, 11, 4, 2, 1}}, {9, 3, []int{9, 3, 1}}, {4, 3, []int{4, 2, 1}}, {2, 3, []int{2, 1}}, {8, 2, []int{8, 4, 2, 1}}} {
		if got := rungSizes(c.n, c.eta); !slices.Equal(got, c.want) {
			t.Errorf("rungSizes(%d, %d) = %v, want %v", c.n, c.eta, got, c.want)
		}
	}
	if got := rungEpochs(81, 5, 3); !slices.Equal(got, []int{1, 3, 9, 27, 81}) {
		t.Errorf("rungEpochs(81, 5, 3) = %v", got)
	}
	if got := rungEpochs(10, 3, 3); !slices.Equal(got, []int{1, 3, 10}) {
		t.Errorf("rungEpochs(10, 3, 3) = %v", got)
	}
}

// TestTuneHalving injects scores that change with the budget, so that
// ranks cross between rungs, and checks that every rung keeps the best
// ⌈n/η⌉ of its trials by their score in that rung, that a NaN never
// survives, and that the survivor is applied to the run.
func TestTuneHalving(t *testing.T) {
	const n = 14
	r := &Run{Config: mtl.Config{Epochs: 27, LR: 1}}
	var configs []TrialConfig
	for i := range n {
		configs = append(configs, TrialConfig{Hidden: []int{i + 1}, LR: float64(i + 1), WeightDecay: float64(i) / 100})
	}
	// Trial i scores a + b/epochs: those with a small b lead early, those
	// with a small a late.
	score := func(i, epochs int) float64 {
		if i == 3 {
			return math.NaN()
		}
		a, b := float64((i*7)%n), float64((i*5)%n)
		return a + 20*b/float64(epochs)
	}
	trained := map[int][]int{} // epochs → trials
	rec, err := r.search(context.Background(), configs, func(_ context.Context, c TrialConfig, epochs int) (float64, *mtl.Checkpoint, error) {
		i := c.Hidden[0] - 1
		trained[epochs] = append(trained[epochs], i)
		return score(i, epochs), &mtl.Checkpoint{}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sizes := rungSizes(n, TuneEta)
	epochs := rungEpochs(27, len(sizes), TuneEta)
	if rec.Rungs != len(sizes) || !slices.Equal(epochs, []int{1, 3, 9, 27}) {
		t.Fatalf("rungs %d, epochs %v", rec.Rungs, epochs)
	}
	prev := trained[epochs[0]]
	if len(prev) != n {
		t.Fatalf("rung 0 trained %v", prev)
	}
	for k := 1; k < len(sizes)-1; k++ {
		ranked := slices.Clone(prev)
		slices.SortStableFunc(ranked, func(a, b int) int { return cmpScore(score(a, epochs[k-1]), score(b, epochs[k-1])) })
		want := ranked[:sizes[k]]
		got := slices.Clone(trained[epochs[k]])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("rung %d trained %v, want the best %d of rung %d: %v", k, got, sizes[k], k-1, want)
		}
		prev = trained[epochs[k]]
	}
	best := slices.MinFunc(prev, func(a, b int) int { return cmpScore(score(a, epochs[len(sizes)-2]), score(b, epochs[len(sizes)-2])) })
	chosen := rec.Chosen()
	if chosen == nil || chosen.Index != best || r.Config.LR != float64(best+1) || r.Spec.Hidden[0] != best+1 || r.Config.WeightDecay != float64(best)/100 {
		t.Errorf("chose %+v, run lr %g hidden %v; want trial %d", chosen, r.Config.LR, r.Spec.Hidden, best)
	}
	if r.Record.Tune != rec {
		t.Error("the search is not recorded")
	}
	for _, tr := range rec.Trials {
		if want := score(tr.Index, tr.Epochs); tr.Index != 3 && tr.Score != want || tr.Epochs != epochs[tr.Rung] {
			t.Errorf("trial %d: score %g in rung %d of %d epochs, want %g", tr.Index, tr.Score, tr.Rung, tr.Epochs, want)
		}
	}
	if nan := rec.Trials[3]; nan.Rung != 0 || !math.IsInf(nan.Score, 1) {
		t.Errorf("a trial that scored NaN: %+v", nan)
	}
	board := rec.Leaderboard()
	if !board[0].Chosen || board[len(board)-1].Index != 3 {
		t.Errorf("leaderboard starts with %+v and ends with %+v", board[0], board[len(board)-1])
	}
	// A trial that fails stops the search, naming it.
	_, err = (&Run{Config: mtl.Config{Epochs: 3}}).search(context.Background(), configs[:4], func(_ context.Context, c TrialConfig, _ int) (float64, *mtl.Checkpoint, error) {
		if c.Hidden[0] == 2 {
			return 0, nil, errors.New("out of device memory")
		}
		return 1, &mtl.Checkpoint{}, nil
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "trial 2 (hidden 2,") {
		t.Errorf("failed trial: %v", err)
	}
}

// tuneOptions are the options of a small search: 4 trials, 3 epochs, so
// that both search rungs train one epoch.
func tuneOptions(t *testing.T, tasks ...string) Options {
	dir := t.TempDir()
	o := options(writeCSV(t, dir, 200, 4), filepath.Join(dir, "m.mtl"))
	o.Tasks = tasks
	o.Tune, o.Train.Epochs = 4, 3
	return o
}

// TestTuneJudged: a trial's score is the run's judge of its best epoch,
// the validation loss or 1 − AUC with --metric auc (higher AUC is
// better), and the best trials by it survive. Every trial is retrained
// alone and scored independently.
func TestTuneJudged(t *testing.T) {
	for _, metric := range []string{MetricLoss, MetricAUC} {
		t.Run(metric, func(t *testing.T) {
			o := tuneOptions(t, "y:binary")
			o.Metric = metric
			r := prepared(t, o)
			b := cpuBackend(t)
			rec, err := r.Tune(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if want := scoreName(metric); rec.Score != want || len(rec.Trials) != 4 || rec.Rungs != 3 {
				t.Fatalf("search %+v", rec)
			}
			auc := map[int]float64{}
			for _, tr := range rec.Trials {
				cfg := r.apply(tr.TrialConfig)
				cfg.Epochs = 1
				st, ck, err := r.fitCandidate(context.Background(), b, cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				auc[tr.Index] = valAUC(t, r, ck.Model)
				want := st.BestVal
				if metric == MetricAUC {
					want = 1 - auc[tr.Index]
				}
				if math.Abs(tr.Score-want) > 1e-9 {
					t.Errorf("trial %d (%s) scored %g, want %g", tr.Index, tr.TrialConfig, tr.Score, want)
				}
			}
			var survivors, rest []Trial
			for _, tr := range rec.Trials {
				if tr.Rung == 1 {
					survivors = append(survivors, tr)
				} else {
					rest = append(rest, tr)
				}
			}
			if len(survivors) != 2 {
				t.Fatalf("%d trials in rung 1", len(survivors))
			}
			for _, s := range survivors {
				for _, o := range rest {
					if s.Score > o.Score {
						t.Errorf("trial %d (score %g) survived, trial %d (score %g) did not", s.Index, s.Score, o.Index, o.Score)
					}
				}
			}
			chosen := rec.Chosen()
			for _, s := range survivors {
				if s.Score < chosen.Score || metric == MetricAUC && auc[s.Index] > auc[chosen.Index] {
					t.Errorf("chose trial %d (score %g, AUC %g) over %d (score %g, AUC %g)", chosen.Index, chosen.Score, auc[chosen.Index], s.Index, s.Score, auc[s.Index])
				}
			}
		})
	}
}

// valAUC is the AUC of the single binary task on the run's validation rows.
func valAUC(t *testing.T, r *Run, m *mtl.Model) float64 {
	t.Helper()
	p, err := m.Predict(cpuBackend(t), r.Val)
	if err != nil {
		t.Fatal(err)
	}
	var ys, ps []float64
	for i, y := range r.Val.Labels[0] {
		if y == y {
			ys, ps = append(ys, float64(y)), append(ps, float64(p[0][i]))
		}
	}
	v, ok := metrics.Binary(ys, ps).Get("auc")
	if !ok {
		t.Fatal("no AUC")
	}
	return v
}

// TestTuneRecorded: the search is drawn by the seed, starts with the
// run's own configuration, lists every trial with its rung, and the model
// file records it with the chosen configuration, which info shows.
func TestTuneRecorded(t *testing.T) {
	b := cpuBackend(t)
	search := func(seed uint64, tune int) (*Run, *TuneRecord) {
		o := tuneOptions(t, "y:binary", "kind:multiclass")
		o.Tune, o.Train.Seed = tune, seed
		r := prepared(t, o)
		rec, err := r.Tune(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		return r, rec
	}
	r, rec := search(7, 6)
	_, again := search(7, 6)
	if a, b := must(json.Marshal(rec)), must(json.Marshal(again)); string(a) != string(b) {
		t.Errorf("the same seed searched\n%s\nthen\n%s", a, b)
	}
	_, other := search(8, 6)
	if slices.EqualFunc(rec.Trials[1:], other.Trials[1:], func(a, b Trial) bool { return a.TrialConfig.equal(b.TrialConfig) }) {
		t.Error("another seed drew the same configurations")
	}
	def := DefaultOptions().Train
	if first := rec.Trials[0]; !slices.Equal(first.Hidden, []int{64}) || first.LR != def.LR || first.WeightDecay != def.WeightDecay || first.Dropout != 0 {
		t.Errorf("the first trial is %s, not the run's own configuration", first.TrialConfig)
	}
	sizes := rungSizes(6, TuneEta)
	for k := range len(sizes) - 1 {
		reached := 0
		for _, tr := range rec.Trials {
			if tr.Rung >= k {
				reached++
			}
		}
		if reached != sizes[k] {
			t.Errorf("%d trials reached rung %d, want %d", reached, k, sizes[k])
		}
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	d := must(Describe(r.Out))
	m := must(LoadModel(r.Out)).Checkpoint
	got := d.Data.Tune
	if got == nil || len(got.Trials) != 6 || got.Chosen() == nil {
		t.Fatalf("recorded %+v", got)
	}
	c := got.Chosen()
	if !slices.Equal(m.Model.Spec.Hidden, c.Hidden) || m.Config.LR != c.LR || m.Config.WeightDecay != c.WeightDecay || m.Config.Dropout != c.Dropout {
		t.Errorf("chose %s, saved hidden %v lr %g decay %g dropout %g", c.TrialConfig, m.Model.Spec.Hidden, m.Config.LR, m.Config.WeightDecay, m.Config.Dropout)
	}
	if text := d.Text(); !strings.Contains(text, "successive halving of 6 trials") || !strings.Contains(text, "chosen: trial "+fmt.Sprint(c.Index+1)) {
		t.Errorf("info says:\n%s", text)
	}
}

// TestTuneInterrupted: Ctrl-C during the search saves the best trial so
// far, which loads, predicts, and --resume trains to the run's epochs.
func TestTuneInterrupted(t *testing.T) {
	o := tuneOptions(t, "y:binary", "kind:multiclass")
	r := prepared(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A trial of rung 0 takes one epoch of 2 steps, and the trials of a
	// shape train together: here trial 1 alone, then trials 2 and 4, then
	// trial 3. Cancel in the second step of trial 3, before its first epoch
	// ends.
	if got := shapeGroups(rec0(r), []int{0, 1, 2, 3}, true); len(got) != 3 || !slices.Equal(got[1], []int{1, 3}) {
		t.Fatalf("the trials train in groups %v", got)
	}
	cancelling := &cancellingBackend{Backend: cpuBackend(t), after: 6, cancel: cancel}
	rec, err := r.Tune(ctx, cancelling)
	var ie *InterruptedError
	if !errors.As(err, &ie) || !ie.Saved || !rec.Interrupted || !finite(rec.Trials[1].Score) || !finite(rec.Trials[3].Score) || !math.IsInf(rec.Trials[2].Score, 1) {
		t.Fatalf("interrupted search: %v, %s", err, must(json.Marshal(rec)))
	}
	r.Close()
	b := cpuBackend(t)
	m := must(LoadModel(o.Out))
	ck := m.Checkpoint
	best := slices.MinFunc(rec.Trials, func(a, b Trial) int { return cmpScore(a.Score, b.Score) })
	if !best.Chosen || !slices.Equal(ck.Model.Spec.Hidden, best.Hidden) || ck.Config.LR != best.LR || ck.Config.Epochs != 3 {
		t.Errorf("saved hidden %v, lr %g, %d epochs; the best so far is %s", ck.Model.Spec.Hidden, ck.Config.LR, ck.Config.Epochs, best.TrialConfig)
	}
	if ev := evaluate(t, b, m, o.Data); len(ev.Report.Order) != 2 {
		t.Errorf("evaluated %v", ev.Report.Order)
	}
	if d := must(Describe(o.Out)); d.Data.Tune == nil || !d.Data.Tune.Interrupted {
		t.Errorf("recorded %+v", d.Data.Tune)
	}
	res := resumeFit(t, o.Out, 0)
	if res.State.Epoch != 3 && !res.State.Done {
		t.Errorf("resumed to epoch %d", res.State.Epoch)
	}
}

// rec0 lists the trials a run's search draws, before any is trained.
func rec0(r *Run) []Trial {
	var trials []Trial
	for i, c := range r.space() {
		trials = append(trials, Trial{TrialConfig: c, Index: i})
	}
	return trials
}

// resumeFit resumes a model file (to epochs, when not 0) and trains it.
func resumeFit(t *testing.T, out string, epochs int) *Result {
	t.Helper()
	o := DefaultOptions()
	o.Resume = out
	if epochs > 0 {
		o.Train.Epochs, o.Given = epochs, []string{"epochs"}
	}
	r := prepared(t, o)
	if r.Tunes() {
		t.Error("a resumed run searches again")
	}
	res, err := r.Fit(context.Background(), cpuBackend(t), Progress{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTuneMembers: with --ensemble the trials are single models and the
// chosen configuration trains the ensemble, which --resume continues;
// with --cv every trial is cross-fitted and judged on its folds.
func TestTuneMembers(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Options)
	}{
		{"ensemble", func(o *Options) { o.Ensemble = 2 }},
		{"cv", func(o *Options) { o.CV, o.ValSplit = 3, AutoValSplit }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := tuneOptions(t, "y:binary")
			c.edit(&o)
			r := prepared(t, o)
			var members []int
			noting := &specBackend{Backend: cpuBackend(t), run: r, members: &members}
			rec, err := r.Tune(context.Background(), noting)
			if err != nil {
				t.Fatal(err)
			}
			want, wantRun := 0, 2
			if o.CV > 1 {
				want, wantRun = 3, 3
			}
			if len(members) == 0 || slices.ContainsFunc(members, func(m int) bool { return m != want }) || r.Spec.Members != wantRun {
				t.Errorf("trials trained %v members, the run %d", members, r.Spec.Members)
			}
			if _, err := r.Fit(context.Background(), cpuBackend(t), Progress{}); err != nil {
				t.Fatal(err)
			}
			r.Close()
			res := resumeFit(t, o.Out, 5)
			ck := must(LoadModel(o.Out)).Checkpoint
			if res.State.Epoch != 5 && !res.State.Done || ck.Model.Spec.Members != r.Spec.Members || !slices.Equal(ck.Model.Spec.Hidden, rec.Chosen().Hidden) {
				t.Errorf("resumed to epoch %d with %d members and hidden %v", res.State.Epoch, ck.Model.Spec.Members, ck.Model.Spec.Hidden)
			}
			if d := must(Describe(o.Out)); d.Data.Tune == nil || d.Data.Tune.Chosen().Index != rec.Chosen().Index {
				t.Error("the resumed model lost its search")
			}
		})
	}
}

// specBackend notes the members of the run's spec at every loss.
type specBackend struct {
	backend.Backend
	run     *Run
	members *[]int
}

func (s *specBackend) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	*s.members = append(*s.members, s.run.Spec.Members)
	s.Backend.LossGrad(logits, labels, table, weights, grad, sums)
}

func TestTuneOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Options)
	}{
		{"one trial", func(o *Options) { o.Tune = 1 }},
		{"negative", func(o *Options) { o.Tune = -2 }},
		{"hidden auto", func(o *Options) { o.AutoWidth = true }},
		{"mmoe", func(o *Options) { o.Arch = mtl.MMoE }},
		{"no validation", func(o *Options) { o.ValSplit, o.CV = 0, 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := tuneOptions(t, "y:binary")
			c.edit(&o)
			_, err := Prepare(o)
			optionErr(t, err, "tune")
		})
	}
	// By default a small table is cross-fitted; a search uses a
	// validation split instead.
	o := tuneOptions(t, "y:binary")
	o.CV, o.ValSplit = AutoCV, AutoValSplit
	if r := prepared(t, o); r.Record.CV != nil || r.Val == nil || !r.Tunes() {
		t.Errorf("a search of 200 rows: folds %+v, validation %v", r.Record.CV, r.Val != nil)
	}
}

// TestTuneBatched: trials of one shape trained together as one model
// score as they do trained one at a time, so that the search keeps the
// same trials in every rung and chooses the same one; with patience 1,
// trials stop early inside a batch. Judged by the validation loss and by
// AUC.
func TestTuneBatched(t *testing.T) {
	for _, metric := range []string{MetricLoss, MetricAUC} {
		t.Run(metric, func(t *testing.T) {
			search := func(batched bool) (*Run, *TuneRecord) {
				o := tuneOptions(t, "y:binary", "kind:multiclass")
				o.Tune, o.Train.Epochs, o.Train.Patience, o.Metric = 9, 9, 1, metric
				r := prepared(t, o)
				rec, err := r.tune(context.Background(), cpuBackend(t), batched)
				if err != nil {
					t.Fatal(err)
				}
				return r, rec
			}
			r, together := search(true)
			_, alone := search(false)
			// The search is not vacuous: some rung trains trials together.
			shared := 0
			for k := range together.Rungs - 1 {
				var alive []int
				for _, tr := range together.Trials {
					if tr.Rung >= k {
						alive = append(alive, tr.Index)
					}
				}
				for _, g := range shapeGroups(together.Trials, alive, true) {
					if len(g) > 1 {
						shared++
					}
				}
			}
			if shared == 0 {
				t.Fatal("no two trials of a rung share a shape")
			}
			for i, a := range alone.Trials {
				b := together.Trials[i]
				if a.Rung != b.Rung || a.Chosen != b.Chosen || math.Abs(a.Score-b.Score) > 1e-6*max(1, math.Abs(a.Score)) {
					t.Errorf("trial %d (%s): rung %d, score %.9g, chosen %v together; rung %d, score %.9g, chosen %v alone", i+1, a.TrialConfig, b.Rung, b.Score, b.Chosen, a.Rung, a.Score, a.Chosen)
				}
			}
			if c := together.Chosen(); c == nil || r.Config.LR != c.LR || !slices.Equal(r.Spec.Hidden, c.Hidden) {
				t.Errorf("chose %+v, the run has lr %g and hidden %v", c, r.Config.LR, r.Spec.Hidden)
			}
		})
	}
}

// TestTuneBatchDiverges: a batch in which one trial's loss diverges is
// trained again one trial at a time, so that only that trial scores +Inf
// and the others score as they do alone.
func TestTuneBatchDiverges(t *testing.T) {
	o := tuneOptions(t, "y:binary", "x1:regression")
	r := prepared(t, o)
	b := cpuBackend(t)
	base := r.Config
	cs := []TrialConfig{
		{Hidden: []int{64, 64}, LR: base.LR, WeightDecay: 0.01},
		{Hidden: []int{64, 64}, LR: 1e12, WeightDecay: 0.01},
		{Hidden: []int{64, 64}, LR: base.LR / 3, WeightDecay: 0, Dropout: 0.1},
	}
	alone := r.trialAlone(b, nil)
	scores, cks, err := r.fitGroup(context.Background(), b, cs, 2, nil, alone)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 3 || !math.IsInf(scores[1], 1) || cks[1] != nil {
		t.Fatalf("scores %v, checkpoints %v", scores, cks)
	}
	for _, i := range []int{0, 2} {
		want, _, err := alone(context.Background(), cs[i], 2)
		if err != nil {
			t.Fatal(err)
		}
		if scores[i] != want || cks[i] == nil || cks[i].Model.Spec.Members != 0 {
			t.Errorf("trial %d scored %g, alone %g", i, scores[i], want)
		}
	}
	// Without the diverging trial the batch trains as one model, and each
	// member scores as it does alone, to rounding.
	scores, _, err = r.fitGroup(context.Background(), b, []TrialConfig{cs[0], cs[2]}, 2, nil, func(context.Context, TrialConfig, int) (float64, *mtl.Checkpoint, error) {
		return 0, nil, errors.New("trained alone")
	})
	if err != nil {
		t.Fatal(err)
	}
	for j, i := range []int{0, 2} {
		want, _, _ := alone(context.Background(), cs[i], 2)
		if math.Abs(scores[j]-want) > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("trial %d scored %g together, %g alone", i, scores[j], want)
		}
	}
}

// BenchmarkTune times a search of 16 trials with the trials of a shape
// trained together and one at a time, on 2,000 rows: compare the two in
// one run (go test -bench Tune -count 3).
func BenchmarkTune(b *testing.B) {
	dir := b.TempDir()
	data := writeCSV(b, dir, 2000, 5)
	be := cpuBackend(b)
	for _, batched := range []bool{true, false} {
		name := "one-at-a-time"
		if batched {
			name = "batched"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				o := options(data, filepath.Join(dir, "m.mtl"))
				o.Tune, o.Train.Epochs = 16, 9
				r, err := Prepare(o)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.tune(context.Background(), be, batched); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

package mtl

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// scriptedJudge scores epoch e (from 1) of member m as |e − best[m]|, and
// keeps the parameters it was shown at each epoch.
type scriptedJudge struct {
	best  []int
	epoch int
	seen  [][]float32
}

func (j *scriptedJudge) judge(cur *Model) ([]float64, error) {
	j.epoch++
	j.seen = append(j.seen, slices.Clone(cur.Params))
	out := make([]float64, len(j.best))
	for m, b := range j.best {
		out[m] = math.Abs(float64(j.epoch - b))
	}
	return out, nil
}

// TestJudgeChoosesBestEpoch: with a judge, each member keeps the
// parameters of the epoch the judge scored best, stops after Patience
// epochs without a better score, and records that epoch's validation
// loss; a run interrupted and resumed from its file judges as the
// uninterrupted one (the best score is part of the checkpoint).
func TestJudgeChoosesBestEpoch(t *testing.T) {
	spec, cfg, data, val := smallRun(t)
	spec.Members = 2
	cfg.Epochs, cfg.Patience = 12, 2
	b := cpuBackend(t)
	j := &scriptedJudge{best: []int{3, 5}}
	tr := newTrainer(t, b, spec, cfg, data, val)
	var epochs []EpochStats
	err := tr.Fit(context.Background(), Hooks{Judge: j.judge, Epoch: func(s EpochStats) error { epochs = append(epochs, s); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	full, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	st := full.State
	// Member 0 is best at 3 and stops at 5, member 1 best at 5 and stops
	// at 7: the run ends after 7 epochs.
	if len(epochs) != 7 || !st.Done {
		t.Fatalf("%d epochs, done %v; want 7, done", len(epochs), st.Done)
	}
	p := len(tr.model.Params) / 2
	for m, want := range j.best {
		ms := st.Members[m]
		if ms.BestEpoch != want || ms.BestScore != 0 {
			t.Errorf("member %d: best epoch %d score %g, want epoch %d score 0", m, ms.BestEpoch, ms.BestScore, want)
		}
		if got := epochs[want-1].MemberVal[m]; ms.BestVal != got {
			t.Errorf("member %d: best validation loss %g, the loss of epoch %d was %g", m, ms.BestVal, want, got)
		}
		if !slices.Equal(tr.model.Params[m*p:(m+1)*p], j.seen[want-1][m*p:(m+1)*p]) {
			t.Errorf("member %d: the model does not hold the parameters of epoch %d", m, want)
		}
		if !math.IsNaN(epochs[0].Score) && epochs[want-1].Score != math.Abs(float64(want-j.best[1-m]))/2 {
			t.Errorf("epoch %d: score %g", want, epochs[want-1].Score)
		}
	}

	// Interrupted after epoch 4, saved, loaded and resumed.
	j2 := &scriptedJudge{best: j.best}
	tr2 := newTrainer(t, b, spec, cfg, data, val)
	err = tr2.Fit(context.Background(), Hooks{Judge: j2.judge, Epoch: func(s EpochStats) error {
		if s.Epoch == 4 {
			return errStop
		}
		return nil
	}})
	if !errors.Is(err, errStop) {
		t.Fatalf("interrupted run: %v", err)
	}
	ck, err := tr2.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	ck = roundTrip(t, ck)
	tr3, err := NewTrainer(b, ck.Model, cfg, data, val, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer tr3.Close()
	j3 := &scriptedJudge{best: j.best, epoch: 4}
	if err := tr3.Fit(context.Background(), Hooks{Judge: j3.judge}); err != nil {
		t.Fatal(err)
	}
	end, err := tr3.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if got := end.State; got.Epoch != st.Epoch || got.Members[1].BestEpoch != 5 || !slices.Equal(tr3.model.Params, tr.model.Params) {
		t.Errorf("resumed: %d epochs, member 1 best at %d; parameters equal: %v", got.Epoch, got.Members[1].BestEpoch, slices.Equal(tr3.model.Params, tr.model.Params))
	}
}

// TestStateScoreJSON: a state judged by its loss writes no score, and one
// judged otherwise keeps its score through the file format.
func TestStateScoreJSON(t *testing.T) {
	for _, st := range []State{
		{BestVal: 0.5, BestScore: 0.5, BestEpoch: 1, Members: []MemberState{{BestVal: 0.4, BestScore: 0.4}}},
		{BestVal: 0.5, BestScore: 0.125, BestEpoch: 1, Members: []MemberState{{BestVal: 0.4, BestScore: 0.25}}},
		{BestVal: math.Inf(1), BestScore: math.Inf(1), BestEpoch: -1},
	} {
		b, err := st.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got State
		if err := got.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if got.BestVal != st.BestVal || got.BestScore != st.BestScore || len(got.Members) != len(st.Members) {
			t.Errorf("%s read back as %+v", b, got)
		}
		for m := range st.Members {
			if got.Members[m].BestScore != st.Members[m].BestScore {
				t.Errorf("%s: member %d score %g", b, m, got.Members[m].BestScore)
			}
		}
		if written := strings.Contains(string(b), `"best_score"`); written == (st.BestScore == st.BestVal) {
			t.Errorf("%s: best_score written %v for score %g and loss %g", b, written, st.BestScore, st.BestVal)
		}
	}
}

// TestStoppedMemberKeepsBest: a member whose patience ran out keeps the
// best epoch it had when it stopped, as it would trained alone, even when
// it scores better later while the other members train on.
func TestStoppedMemberKeepsBest(t *testing.T) {
	spec, cfg, data, val := smallRun(t)
	spec.Members = 2
	cfg.Epochs, cfg.Patience = 8, 2
	epoch := 0
	// Member 0 is best at epoch 1, stops at 3 and scores better at 4;
	// member 1 improves until epoch 6.
	judge := func(*Model) ([]float64, error) {
		epoch++
		s0 := float64(epoch)
		if epoch >= 4 {
			s0 = 0.5
		}
		return []float64{s0, math.Abs(float64(epoch - 6))}, nil
	}
	tr := newTrainer(t, cpuBackend(t), spec, cfg, data, val)
	if err := tr.Fit(context.Background(), Hooks{Judge: judge}); err != nil {
		t.Fatal(err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	m0, m1 := ck.State.Members[0], ck.State.Members[1]
	if m0.BestEpoch != 1 || m0.BestScore != 1 || !m0.Done || m1.BestEpoch != 6 || epoch != 8 {
		t.Errorf("member 0 best at %d (score %g, done %v), member 1 best at %d, after %d epochs", m0.BestEpoch, m0.BestScore, m0.Done, m1.BestEpoch, epoch)
	}
}

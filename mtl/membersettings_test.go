package mtl

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// settingsRun is a model of three members with tanh layers (whose φ
// outputs dropout keeps apart) and a setting of its own for each: the
// first drops nothing, the last draws the masks of a model of one member.
func settingsRun(t *testing.T) (Spec, Config, *Dataset, *Dataset) {
	t.Helper()
	spec := archSpecs()["members/shared"]
	spec.Activation = backend.Tanh
	data, val := archData(spec, 4)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.Patience, cfg.ClipNorm = 4, 32, 0, 3
	seed := cfg.Seed
	cfg.MemberSettings = []MemberSetting{
		{LRFactor: 1, WeightDecay: 0, Dropout: 0},
		{LRFactor: 3, WeightDecay: 0.5, Dropout: 0.3},
		{LRFactor: 1.0 / 3, WeightDecay: 1e-3, Dropout: 0.2, DropoutSeed: &seed},
	}
	return spec, cfg, data, val
}

// TestMemberSettingsMatchSeparateRuns trains members with different
// learning rates, weight decays and dropout rates together, and each
// member again with its setting as the Config's own values: a member
// without a dropout seed beside members that all share its setting (so
// that its masks, drawn by its place, are the same), the member with a
// dropout seed as a model of one member (on the rows it uses). Every
// member ends with the parameters of its own run.
func TestMemberSettingsMatchSeparateRuns(t *testing.T) {
	spec, cfg, data, val := settingsRun(t)
	b := cpuBackend(t)
	tr := newTrainer(t, b, spec, cfg, data, val)
	init := slices.Clone(tr.model.Params)
	fitEpochs(t, tr)
	together := tr.model
	p := newLayout(spec).total
	for m, ms := range cfg.MemberSettings {
		alone := cfg
		alone.MemberSettings = nil
		alone.LR, alone.WeightDecay, alone.Dropout = cfg.LR*ms.LRFactor, ms.WeightDecay, ms.Dropout
		model := &Model{Spec: together.Spec, Params: slices.Clone(init)}
		model.Spec.Tasks = slices.Clone(together.Spec.Tasks) // with the fitted standardisation
		slot, d, v := m, data, val
		if ms.DropoutSeed != nil {
			model.Spec.Members = 0
			model.Params, slot = slices.Clone(init[m*p:(m+1)*p]), 0
			d, v = memberView(data, m), memberView(val, m)
		}
		tr1, err := NewTrainer(b, model, alone, d, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr1.Fit(context.Background(), Hooks{}); err != nil {
			t.Fatal(err)
		}
		tr1.Close()
		own := model.Params[slot*p : (slot+1)*p]
		for i, v := range own {
			if w := together.Params[m*p+i]; math.Abs(float64(v-w)) > 1e-5*max(1, math.Abs(float64(w))) {
				t.Fatalf("member %d, parameter %d: %g together, %g in its own run", m, i, w, v)
			}
		}
	}
}

// TestMemberSettingsResume: a run of members with settings of their own,
// interrupted in the middle of an epoch and saved to a file, resumes to
// the very parameters of an uninterrupted run, and the settings are part
// of the file.
func TestMemberSettingsResume(t *testing.T) {
	spec, cfg, data, val := settingsRun(t)
	if !resumeMatches(t, spec, cfg, data, val, true) {
		t.Error("resumed run differs from the uninterrupted one")
	}
	tr := newTrainer(t, cpuBackend(t), spec, cfg, data, val)
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, ck)
	got := back.Config.MemberSettings
	if len(got) != 3 || got[1] != cfg.MemberSettings[1] || got[2].DropoutSeed == nil || *got[2].DropoutSeed != cfg.Seed {
		t.Errorf("the file kept member settings %+v", got)
	}
	// The file of a model without member settings does not name them.
	plain := cfg
	plain.MemberSettings = nil
	tr2 := newTrainer(t, cpuBackend(t), spec, plain, data, val)
	ck2, err := tr2.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if back := roundTrip(t, ck2); back.Config.MemberSettings != nil {
		t.Errorf("member settings %+v from a file without them", back.Config.MemberSettings)
	}
}

// TestMemberSettingsValidate: settings must be one per member, each within
// the ranges of the Config's own values.
func TestMemberSettingsValidate(t *testing.T) {
	spec, cfg, data, val := settingsRun(t)
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.MemberSettings = c.MemberSettings[:2] }, "2 member settings for a model of 3 members"},
		{func(c *Config) { c.MemberSettings[1].LRFactor = 0 }, "member 1: learning-rate factor"},
		{func(c *Config) { c.MemberSettings[2].LRFactor = math.Inf(1) }, "member 2: learning-rate factor"},
		{func(c *Config) { c.MemberSettings[0].WeightDecay = -1 }, "member 0: weight decay"},
		{func(c *Config) { c.MemberSettings[1].Dropout = 1 }, "member 1: dropout"},
	} {
		bad := cfg
		bad.MemberSettings = slices.Clone(cfg.MemberSettings)
		c.edit(&bad)
		m, err := NewModel(spec, data, bad.Seed)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewTrainer(cpuBackend(t), m, bad, data, val, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error saying %q, got %v", c.want, err)
		}
		if err := (&Checkpoint{Model: m, Config: bad}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkpoint: want an error saying %q, got %v", c.want, err)
		}
	}
	// A member's dropout needs hidden layers, as the Config's does.
	spec.Hidden = nil
	m, err := NewModel(spec, data, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewTrainer(cpuBackend(t), m, cfg, data, val, nil)
	if _, ok := err.(*NoHiddenLayersError); !ok {
		t.Errorf("dropout without hidden layers: %v", err)
	}
}

// TestCheckpointMember: a member taken out of a run interrupted in the
// middle of an epoch, saved and resumed as a model of one member (on the
// rows it uses), ends where it ends in the uninterrupted run: the member
// without dropout and the member whose masks follow a seed of their own.
func TestCheckpointMember(t *testing.T) {
	spec, cfg, data, val := settingsRun(t)
	b := cpuBackend(t)
	full := train(t, b, spec, cfg, data, val)
	tr := newTrainer(t, b, spec, cfg, data, val)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := tr.Fit(ctx, Hooks{Step: func(epoch, step, _ int) {
		if epoch == 2 && step == 3 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("the run was not interrupted")
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	p := newLayout(spec).total
	for _, m := range []int{0, 2} {
		one, err := ck.Member(m)
		if err != nil {
			t.Fatal(err)
		}
		one = roundTrip(t, one)
		ms := cfg.MemberSettings[m]
		if one.Model.Spec.Members != 0 || one.Config.MemberSettings != nil || one.Config.Dropout != ms.Dropout || one.Config.WeightDecay != ms.WeightDecay || one.State.EpochStep != ck.State.EpochStep || one.State.EpochStep == 0 {
			t.Fatalf("member %d: %d members, config %+v, at epoch step %d", m, one.Model.Spec.Members, one.Config, one.State.EpochStep)
		}
		tr1, err := NewTrainer(b, one.Model, one.Config, memberView(data, m), memberView(val, m), one)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr1.Fit(context.Background(), Hooks{}); err != nil {
			t.Fatal(err)
		}
		tr1.Close()
		for i, v := range one.Model.Params {
			if w := full.Params[m*p+i]; math.Abs(float64(v-w)) > 1e-5*max(1, math.Abs(float64(w))) {
				t.Fatalf("member %d, parameter %d: %g in the full run, %g resumed alone", m, i, w, v)
			}
		}
	}
	if _, err := ck.Member(3); err == nil {
		t.Error("member 3 of 3 taken")
	}
}

package mtl

import (
	"math"
	"strings"
	"testing"
)

func TestSchedules(t *testing.T) {
	c := DefaultConfig()
	c.Epochs, c.LR = 10, 1
	const perEpoch = 4
	c.Schedule = Schedule{Kind: Constant, Warmup: 1}
	for step, want := range []float64{0.25, 0.5, 0.75, 1, 1, 1} {
		if got := c.lr(step, perEpoch); math.Abs(got-want) > 1e-12 {
			t.Errorf("constant with warm-up, step %d: %g, want %g", step, got, want)
		}
	}
	c.Schedule = Schedule{Kind: Step, StepEvery: 3, Gamma: 0.1}
	for _, s := range []struct {
		step int
		want float64
	}{{0, 1}, {11, 1}, {12, 0.1}, {23, 0.1}, {24, 0.01}, {39, 0.001}} {
		if got := c.lr(s.step, perEpoch); math.Abs(got-s.want) > 1e-12 {
			t.Errorf("step schedule, step %d: %g, want %g", s.step, got, s.want)
		}
	}
	c.Schedule = Schedule{Kind: Cosine, Warmup: 0.5, MinLR: 0.1}
	if got := c.lr(0, perEpoch); got != 0.5 {
		t.Errorf("cosine warm-up, first step: %g", got)
	}
	if got := c.lr(2, perEpoch); got != 1 {
		t.Errorf("cosine, first step after warm-up: %g, want the full rate", got)
	}
	if got := c.lr(39, perEpoch); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("cosine, last step: %g, want MinLR·LR = 0.1", got)
	}
	mid := c.lr(2+19, perEpoch) // halfway through the 38 annealed steps
	if math.Abs(mid-0.55) > 0.02 {
		t.Errorf("cosine, midway: %g, want about 0.55", mid)
	}
	prev := math.Inf(1)
	for s := 2; s < 40; s++ {
		v := c.lr(s, perEpoch)
		if v > prev {
			t.Fatalf("cosine rate rose at step %d", s)
		}
		prev = v
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Epochs = 0 }, "epochs"},
		{func(c *Config) { c.Batch = 0 }, "batch"},
		{func(c *Config) { c.LR = math.NaN() }, "learning rate"},
		{func(c *Config) { c.LR = -1 }, "learning rate"},
		{func(c *Config) { c.Optimizer = "lbfgs" }, "optimizer"},
		{func(c *Config) { c.Momentum = 1 }, "momentum"},
		{func(c *Config) { c.Beta2 = 1 }, "adam"},
		{func(c *Config) { c.WeightDecay = -1 }, "weight decay"},
		{func(c *Config) { c.GroupBiasDecay = math.Inf(1) }, "group decays"},
		{func(c *Config) { c.ClipNorm = -1 }, "clipping"},
		{func(c *Config) { c.Patience = -1 }, "patience"},
		{func(c *Config) { c.Dropout = 1 }, "dropout must be in [0, 1)"},
		{func(c *Config) { c.Dropout = -0.1 }, "dropout must be in [0, 1)"},
		{func(c *Config) { c.Dropout = math.NaN() }, "dropout must be in [0, 1)"},
		{func(c *Config) { c.LabelSmoothing = 1 }, "label smoothing must be in [0, 1)"},
		{func(c *Config) { c.LabelSmoothing = math.NaN() }, "label smoothing must be in [0, 1)"},
		{func(c *Config) { c.Schedule.Kind = "linear" }, "schedule"},
		{func(c *Config) { c.Schedule = Schedule{Kind: Step} }, "step schedule"},
		{func(c *Config) { c.Schedule.MinLR = 2 }, "min_lr"},
		{func(c *Config) { c.Weighting.Method = "nash" }, "weighting"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error about %q", err, c.want)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	good := gradSpec([]int{4}, 0)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Inputs = 0 }, "at least one input"},
		{func(s *Spec) { s.Hidden = []int{4, 0} }, "width 0"},
		{func(s *Spec) { s.Tasks = nil }, "no tasks"},
		{func(s *Spec) { s.Tasks[1].Name = s.Tasks[0].Name }, "two tasks"},
		{func(s *Spec) { s.Tasks[0].Classes = 1 }, "at least 2 classes"},
		{func(s *Spec) { s.Tasks[0].Weight = math.Inf(1) }, "weight"},
		{func(s *Spec) { s.Tasks[2].Groups = -1 }, "negative group"},
	} {
		s := gradSpec([]int{4}, 0)
		c.edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error about %q", err, c.want)
		}
	}
}

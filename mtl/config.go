package mtl

import (
	"fmt"
	"math"
)

// Optimizer names an optimisation method.
type Optimizer string

const (
	// SGD is stochastic gradient descent with momentum and classic L2.
	SGD Optimizer = "sgd"
	// Adam is Adam with classic (coupled) L2 decay.
	Adam Optimizer = "adam"
	// AdamW is Adam with decoupled weight decay.
	AdamW Optimizer = "adamw"
)

// ScheduleKind names a learning-rate schedule.
type ScheduleKind string

const (
	// Constant keeps the learning rate fixed (after warm-up).
	Constant ScheduleKind = "constant"
	// Step multiplies the rate by Gamma every StepEvery epochs.
	Step ScheduleKind = "step"
	// Cosine anneals the rate from LR to MinLR·LR over the run.
	Cosine ScheduleKind = "cosine"
)

// Schedule is a learning-rate schedule with linear warm-up.
type Schedule struct {
	Kind ScheduleKind `json:"kind"`
	// Warmup is the length of the linear warm-up in epochs (fractions
	// allowed).
	Warmup float64 `json:"warmup"`
	// StepEvery and Gamma parameterise the Step schedule.
	StepEvery int     `json:"step_every,omitempty"`
	Gamma     float64 `json:"gamma,omitempty"`
	// MinLR is the final rate of the Cosine schedule, as a fraction of LR.
	MinLR float64 `json:"min_lr,omitempty"`
}

// Config holds everything about how a model is trained.
type Config struct {
	Epochs    int       `json:"epochs"`
	Batch     int       `json:"batch"`
	Optimizer Optimizer `json:"optimizer"`
	LR        float64   `json:"lr"`
	// Momentum and Nesterov apply to SGD.
	Momentum float64 `json:"momentum"`
	Nesterov bool    `json:"nesterov"`
	// Beta1, Beta2 and Eps apply to Adam and AdamW.
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
	// WeightDecay is the L2 decay of the weights of shared layers and
	// heads (biases are not decayed).
	WeightDecay float64 `json:"weight_decay"`
	// GroupDecay is the L2 shrinkage of the per-group deviations of task
	// families, as a ridge penalty on the sum of the family's row losses:
	// the larger, the more each group's head stays near the family's
	// shared head, and the fewer rows a group has, the more it is shrunk.
	// It is roughly the ratio of the noise variance within a group to the
	// variance between groups.
	GroupDecay float64 `json:"group_decay"`
	// GroupBiasDecay is the same shrinkage for the deviations of the
	// groups' biases (their intercepts), which usually differ between
	// groups far more than their weights do.
	GroupBiasDecay float64  `json:"group_bias_decay"`
	Schedule       Schedule `json:"schedule"`
	// ClipNorm clips the global gradient norm; 0 disables clipping.
	ClipNorm float64 `json:"clip_norm"`
	// Patience stops training when the validation loss has not improved
	// for this many epochs; 0 trains for all Epochs.
	Patience int `json:"patience"`
	// Seed drives initial weights and the order of rows.
	Seed uint64 `json:"seed"`
	// Weighting chooses how task losses and gradients are combined.
	Weighting Weighting `json:"weighting"`
	// Dropout is the rate p ∈ [0, 1) of inverted dropout after the
	// activation of every hidden layer of the body (the shared layers, or
	// every layer of the experts): in training each unit is zeroed with
	// probability p and the others are scaled by 1/(1−p); prediction and
	// the validation loss use every unit, unscaled. The inputs and the
	// heads' outputs are never dropped. Masks follow from the seed, the
	// step, the member and the layer alone (see dropout.go). 0 is off.
	Dropout float64 `json:"dropout"`
	// LabelSmoothing ε ∈ [0, 1) trains classification tasks towards
	// (1−ε)·onehot + ε/C (multiclass, C classes) and y(1−ε) + ε/2 (binary)
	// instead of their labels; regression targets are untouched. It
	// changes the training loss and its gradient only: the validation
	// loss, early stopping and metrics use the labels themselves. 0 is off.
	LabelSmoothing float64 `json:"label_smoothing"`
	// MemberSettings, when set, give each member of the model (one per
	// member, in order) a learning rate, weight decay and dropout of its
	// own in place of LR, WeightDecay and Dropout, so that a model of
	// several members trains several configurations at once. Empty: every
	// member uses the values above.
	MemberSettings []MemberSetting `json:"member_settings,omitempty"`
}

// MemberSetting is the configuration of one member of a model whose
// members differ (Config.MemberSettings).
type MemberSetting struct {
	// LRFactor multiplies the scheduled learning rate (Config.LR and its
	// schedule) for this member; it must be > 0.
	LRFactor float64 `json:"lr_factor"`
	// WeightDecay and Dropout replace Config.WeightDecay and
	// Config.Dropout for this member, with the same ranges.
	WeightDecay float64 `json:"weight_decay"`
	Dropout     float64 `json:"dropout"`
	// DropoutSeed, when set, draws the member's dropout masks as those of
	// the only member of a model trained with that seed, in place of the
	// masks of its own place in this model (the run's seed and the
	// member's index): a member trained beside others then drops the units
	// it would drop trained alone.
	DropoutSeed *uint64 `json:"dropout_seed,omitempty"`
}

// member returns member m's setting: its own, or the Config's values.
func (c Config) member(m int) MemberSetting {
	if len(c.MemberSettings) == 0 {
		return MemberSetting{LRFactor: 1, WeightDecay: c.WeightDecay, Dropout: c.Dropout}
	}
	return c.MemberSettings[m]
}

// maxDropout is the largest dropout rate of any member.
func (c Config) maxDropout() float64 {
	p := c.Dropout
	if len(c.MemberSettings) > 0 {
		p = 0
		for _, s := range c.MemberSettings {
			p = max(p, s.Dropout)
		}
	}
	return p
}

// validateMembers checks that the member settings fit a model of that
// many members.
func (c Config) validateMembers(members int) error {
	if n := len(c.MemberSettings); n != 0 && n != members {
		return fmt.Errorf("%d member settings for a model of %d members", n, members)
	}
	return nil
}

// DefaultConfig returns the settings that train well on typical tabular
// multi-task data without tuning: AdamW with a cosine schedule.
func DefaultConfig() Config {
	return Config{
		Epochs:         40,
		Batch:          128,
		Optimizer:      AdamW,
		LR:             3e-3,
		Momentum:       0.9,
		Beta1:          0.9,
		Beta2:          0.999,
		Eps:            1e-8,
		WeightDecay:    1e-2,
		GroupDecay:     1000,
		GroupBiasDecay: 5,
		Schedule:       Schedule{Kind: Cosine, Warmup: 1, MinLR: 0.02, StepEvery: 10, Gamma: 0.1},
		Patience:       8,
		Weighting:      Weighting{Method: Equal},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs must be at least 1, got %d", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("batch size must be at least 1, got %d", c.Batch)
	case !(c.LR > 0) || !finite(c.LR):
		return fmt.Errorf("learning rate must be > 0, got %g", c.LR)
	case c.Optimizer != SGD && c.Optimizer != Adam && c.Optimizer != AdamW:
		return fmt.Errorf("unknown optimizer %q (want sgd, adam or adamw)", c.Optimizer)
	case c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("momentum must be in [0, 1), got %g", c.Momentum)
	case (c.Optimizer != SGD) && (c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || !(c.Eps > 0)):
		return fmt.Errorf("adam needs beta1, beta2 in [0, 1) and eps > 0, got %g, %g, %g", c.Beta1, c.Beta2, c.Eps)
	case c.WeightDecay < 0 || !finite(c.WeightDecay):
		return fmt.Errorf("weight decay must be ≥ 0, got %g", c.WeightDecay)
	case c.GroupDecay < 0 || !finite(c.GroupDecay) || c.GroupBiasDecay < 0 || !finite(c.GroupBiasDecay):
		return fmt.Errorf("group decays must be ≥ 0, got %g and %g", c.GroupDecay, c.GroupBiasDecay)
	case c.ClipNorm < 0 || !finite(c.ClipNorm):
		return fmt.Errorf("gradient clipping norm must be ≥ 0, got %g", c.ClipNorm)
	case c.Patience < 0:
		return fmt.Errorf("patience must be ≥ 0, got %d", c.Patience)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("dropout must be in [0, 1), got %g", c.Dropout)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing must be in [0, 1), got %g", c.LabelSmoothing)
	}
	for m, ms := range c.MemberSettings {
		switch {
		case !(ms.LRFactor > 0) || !finite(ms.LRFactor) || !finite(c.LR*ms.LRFactor):
			return fmt.Errorf("member %d: learning-rate factor must be > 0, got %g", m, ms.LRFactor)
		case ms.WeightDecay < 0 || !finite(ms.WeightDecay):
			return fmt.Errorf("member %d: weight decay must be ≥ 0, got %g", m, ms.WeightDecay)
		case !(ms.Dropout >= 0 && ms.Dropout < 1):
			return fmt.Errorf("member %d: dropout must be in [0, 1), got %g", m, ms.Dropout)
		}
	}
	s := c.Schedule
	switch s.Kind {
	case Constant, Cosine:
	case Step:
		if s.StepEvery < 1 || !(s.Gamma > 0) {
			return fmt.Errorf("step schedule needs step_every ≥ 1 and gamma > 0")
		}
	default:
		return fmt.Errorf("unknown schedule %q (want constant, step or cosine)", s.Kind)
	}
	if s.Warmup < 0 || !finite(s.Warmup) || s.MinLR < 0 || s.MinLR > 1 {
		return fmt.Errorf("schedule needs warmup ≥ 0 and min_lr in [0, 1]")
	}
	return c.Weighting.validate()
}

// lr returns the learning rate of the step-th step (from 0) of a run of
// epochs×perEpoch steps.
func (c Config) lr(step, perEpoch int) float64 {
	total := c.Epochs * perEpoch
	warm := int(math.Round(c.Schedule.Warmup * float64(perEpoch)))
	if warm > 0 && step < warm {
		return c.LR * float64(step+1) / float64(warm)
	}
	switch c.Schedule.Kind {
	case Step:
		return c.LR * math.Pow(c.Schedule.Gamma, float64(step/perEpoch/c.Schedule.StepEvery))
	case Cosine:
		span := total - warm
		if span <= 1 {
			return c.LR
		}
		frac := float64(step-warm) / float64(span-1)
		lo := c.Schedule.MinLR * c.LR
		return lo + (c.LR-lo)*0.5*(1+math.Cos(math.Pi*min(frac, 1)))
	}
	return c.LR
}

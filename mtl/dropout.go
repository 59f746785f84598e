package mtl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Dropout in training (Config.Dropout). Every hidden layer l of the body
// (a shared layer, or one layer of all of a level's experts at once) keeps
// its activation H_l = φ(P_l) and passes on
//
//	D_l = H_l ⊙ M_l / q
//
// where the mask M_l keeps each unit with probability q ≈ 1 − p (see
// backend.Dropout). The next layer, the gates' mixtures and the heads read
// D_l, so in the backward pass the gradient with respect to D_l becomes
// that with respect to H_l by the same mask and scale, before φ':
//
//	dH_l = dD_l ⊙ M_l / q,   dP_l = dH_l ⊙ φ'(P_l)
//
// ActGrad reads φ' through the layer's output. For ReLU and the identity
// the dropped output D_l gives the same φ' at every kept unit (a ReLU
// unit is positive in D_l exactly when it is kept and positive in H_l),
// and a dropped unit's gradient is zero anyway; for tanh, 1 − D² is not
// 1 − H², so the trainer keeps H_l in a buffer of its own (net.pre) and
// writes D_l beside it. Otherwise D_l replaces H_l in place.
//
// The mask of a layer is a pure function of a key, derived from the run's
// seed, the step (State.Step, which a checkpoint keeps), the member and
// the layer, so that the forward pass, every backward pass of the step
// (the per-task passes of the gradient methods included) and a resumed
// run draw the same masks, on every backend and thread count; each member
// of a model has masks of its own. Prediction and the validation loss run
// without dropout.

// dropout is the dropout of one forward and backward pass: each member's
// rate and what the keys of its masks derive from. The zero value is no
// dropout.
//
// Members may differ in rate (Config.MemberSettings): the pass drops units
// when any member does, and a member of rate 0 then passes its layers on
// unchanged (a dropout of rate 0 keeps every unit, scaled by 1), which
// keeps the layers' φ outputs where the other members' passes expect them.
type dropout struct {
	rates []float32 // each member's rate; nil when no member drops units
	seeds []uint64  // each member's seed of keys
	slots []int     // each member's index in its keys
	step  int
	// row0 is the place of the pass's first row in the step's global
	// batch: 0 alone, a process's first row in a data-parallel run, so
	// that every row keeps the mask it has in a run alone.
	row0 int
}

// on reports whether the pass drops units.
func (d dropout) on() bool { return d.rates != nil }

// dropoutDomain sets the keys of dropout masks apart from other uses of
// the run's seed.
const dropoutDomain = 0x6d746c2d64726f70 // "mtl-drop"

// key returns the key of the mask of member m's hidden layer site at the
// pass's step: splitmix64 applied in turn to the seed, the step, the
// member and the site (for a member with a DropoutSeed of its own, that
// seed and member 0, as in a model of one member).
func (d dropout) key(member, site int) uint64 {
	k := splitmix64(d.seeds[member] ^ dropoutDomain)
	k = splitmix64(k ^ uint64(d.step))
	k = splitmix64(k ^ uint64(d.slots[member]))
	return splitmix64(k ^ uint64(site))
}

// splitmix64 is the output function of Steele, Lea and Flood's SplitMix64
// generator, a bijection that mixes every bit of x into every bit of the
// result.
func splitmix64(x uint64) uint64 {
	z := x + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// apply replaces member m's output h of hidden layer site by its dropped
// form, read from phi (h itself, or the layer's separate φ output).
func (d dropout) apply(b backend.Backend, h, phi backend.Mat, member, site int) {
	if d.on() {
		b.Dropout(h, phi, d.key(member, site), d.row0, d.rates[member])
	}
}

// backward turns member m's gradient with respect to the dropped output
// of hidden layer site into the gradient with respect to the layer's φ
// output, in place.
func (d dropout) backward(b backend.Backend, grad backend.Mat, member, site int) {
	if d.on() {
		b.Dropout(grad, grad, d.key(member, site), d.row0, d.rates[member])
	}
}

// keepsPhi reports whether a trainer with dropout at rate p (the largest
// of its members') keeps the
// hidden layers' φ outputs apart from their dropped outputs: for tanh,
// whose φ' cannot be read through a dropped output.
func keepsPhi(p float64, act backend.Activation) bool {
	return p > 0 && act == backend.Tanh
}

// dropout returns the dropout of the trainer's current step.
func (t *Trainer) dropout() dropout {
	cfg := t.cfg
	if cfg.maxDropout() == 0 {
		return dropout{}
	}
	d := dropout{step: t.state.Step}
	if t.dist != nil {
		d.row0 = t.dist.lo
	}
	for m := range t.members {
		ms := cfg.member(m)
		seed, slot := cfg.Seed, m
		if ms.DropoutSeed != nil {
			seed, slot = *ms.DropoutSeed, 0
		}
		d.rates, d.seeds, d.slots = append(d.rates, float32(ms.Dropout)), append(d.seeds, seed), append(d.slots, slot)
	}
	return d
}

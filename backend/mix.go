package backend

import (
	"errors"
	"fmt"
)

// MixTable describes the gated mixtures of a mixture-of-experts layer
// (MMoE, PLE). Each row has NumExperts expert outputs of Width values side
// by side, and a gate matrix whose columns are slots: output group q mixes
// the slots Starts[q] … Starts[q+1]−1, and slot s weights expert
// Experts[s]:
//
//	dst[i, q·W + j] = Σ_{s ∈ group q} gates[i, s] · experts[i, Experts[s]·W + j]
//
// The same groups are the segments over which SoftmaxGroups normalises the
// gate logits. A group may list any subset of the experts (PLE's task
// gates read their own experts and the shared ones).
type MixTable struct {
	Starts  []int
	Experts []int
	// NumExperts is the number of expert outputs per row and Width the
	// width of each.
	NumExperts, Width int
	// Ints holds Starts then Experts on the device.
	Ints Buffer
}

// Groups is the number of output groups.
func (t MixTable) Groups() int { return len(t.Starts) - 1 }

// Slots is the number of gate columns.
func (t MixTable) Slots() int { return len(t.Experts) }

// ValidateMix checks a mixture description.
func ValidateMix(starts, experts []int, numExperts, width int) error {
	if len(starts) < 2 || starts[0] != 0 || starts[len(starts)-1] != len(experts) {
		return fmt.Errorf("mixture: group starts %v do not cover the %d slots", starts, len(experts))
	}
	for q := 1; q < len(starts); q++ {
		if starts[q] <= starts[q-1] {
			return fmt.Errorf("mixture: group %d has no slot", q-1)
		}
	}
	if numExperts < 1 || width < 1 {
		return errors.New("mixture: needs at least one expert of width 1")
	}
	for s, e := range experts {
		if e < 0 || e >= numExperts {
			return fmt.Errorf("mixture: slot %d names expert %d of %d", s, e, numExperts)
		}
	}
	return nil
}

// NewMixTable checks a mixture description and uploads it to b.
func NewMixTable(b Backend, starts, experts []int, numExperts, width int) (MixTable, error) {
	if err := ValidateMix(starts, experts, numExperts, width); err != nil {
		return MixTable{}, err
	}
	ints := make([]int32, 0, len(starts)+len(experts))
	for _, v := range starts {
		ints = append(ints, int32(v))
	}
	for _, v := range experts {
		ints = append(ints, int32(v))
	}
	buf, err := b.Alloc(Int32, len(ints))
	if err != nil {
		return MixTable{}, err
	}
	b.WriteInt32(buf, 0, ints)
	return MixTable{Starts: append([]int(nil), starts...), Experts: append([]int(nil), experts...), NumExperts: numExperts, Width: width, Ints: buf}, nil
}

// Free releases the table's buffer.
func (t MixTable) Free(b Backend) { b.Free(t.Ints) }

// CheckMix checks the operands of Mix and of MixGrad (dst standing for
// dDst, with dGates and dExperts shaped like gates and experts).
func CheckMix(op string, dst, gates, experts Mat, t MixTable) {
	dst.Check(op+" dst", Float32)
	gates.Check(op+" gates", Float32)
	experts.Check(op+" experts", Float32)
	if t.Ints == nil || t.Ints.DType() != Int32 || t.Ints.Len() != len(t.Starts)+len(t.Experts) {
		panic(fmt.Sprintf("backend: %s: table not uploaded", op))
	}
	switch {
	case gates.Rows != dst.Rows || experts.Rows != dst.Rows:
		panic(fmt.Sprintf("backend: %s: %d, %d and %d rows", op, dst.Rows, gates.Rows, experts.Rows))
	case gates.Cols != t.Slots():
		panic(fmt.Sprintf("backend: %s: %d gate columns for %d slots", op, gates.Cols, t.Slots()))
	case experts.Cols != t.NumExperts*t.Width:
		panic(fmt.Sprintf("backend: %s: %d expert columns for %d experts of %d", op, experts.Cols, t.NumExperts, t.Width))
	case dst.Cols != t.Groups()*t.Width:
		panic(fmt.Sprintf("backend: %s: %d output columns for %d groups of %d", op, dst.Cols, t.Groups(), t.Width))
	}
}

// CheckSoftmaxGroups checks the operands of SoftmaxGroups and
// SoftmaxGroupsGrad (probs nil-buffer for the former).
func CheckSoftmaxGroups(op string, m Mat, probs *Mat, t MixTable) {
	m.Check(op, Float32)
	if m.Cols != t.Slots() {
		panic(fmt.Sprintf("backend: %s: %d columns for %d slots", op, m.Cols, t.Slots()))
	}
	if probs != nil {
		probs.Check(op+" probs", Float32)
		SameShape(op, m, *probs)
	}
}

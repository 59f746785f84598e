package mtl

import "slices"

// Internals that the data-parallel tests (package mtl_test, which also
// uses mtltest) read.

// EpochGradients runs the optimiser steps of the current epoch without the
// epoch's end, and returns after every step the gradient the update used
// (every member's, with the gradient methods' combination of the shared
// parameters) and the tasks' gradients G of the gradient methods (nil for
// the others).
//
// It also returns the loss weights' scale of every step (see share; nil
// alone).
func (t *Trainer) EpochGradients() (grads, taskGrads [][]float32, scales [][]float64, err error) {
	t.state.RNG, _ = t.data.rng.MarshalBinary()
	t.b.Fill(t.loss.sumsVec(1), 0)
	if err := t.shuffle(); err != nil {
		return nil, nil, nil, err
	}
	for s := range t.stepsPerEpoch() {
		if err := t.step(s, s*t.cfg.Batch, min(t.cfg.Batch, t.train.N-s*t.cfg.Batch)); err != nil {
			return nil, nil, nil, err
		}
		t.state.Step++
		g := make([]float32, t.optim.grads.Len())
		if err := t.b.ReadFloat32(g, t.optim.grads, 0); err != nil {
			return nil, nil, nil, err
		}
		grads = append(grads, g)
		if t.loss.scale != nil {
			scales = append(scales, slices.Clone(t.loss.scale))
		}
		if _, gram := t.methods[0].reads(); gram {
			tg := make([]float32, t.tg.g.Len())
			if err := t.b.ReadFloat32(tg, t.tg.g, 0); err != nil {
				return nil, nil, nil, err
			}
			taskGrads = append(taskGrads, tg)
		}
	}
	return grads, taskGrads, scales, nil
}

// ReduceLayout returns the lengths of the gradient and of the tasks'
// gradients G at the start of a step's all-reduce buffer.
func (t *Trainer) ReduceLayout() (grads, taskGrads int) {
	taskGrads = 0
	if t.tg.g != nil {
		taskGrads = t.tg.g.Len()
	}
	return t.members * t.gradLen, taskGrads
}

// MinNorm is MGDA's combination: the weights of the least-norm point of
// the convex hull of the gradients whose Gram matrix (n×n) is gram.
var MinNorm = minNorm

// NewMemStream serves d as a Stream of blocks of the given sizes in turn.
func NewMemStream(d *Dataset, sizes ...int) Stream { return newMemStream(d, sizes...) }

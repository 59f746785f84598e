// Package mtl is the multi-task model and its trainer.
//
// The model maps an input row x ∈ R^d through shared layers
//
//	h = φ(Wᵀx + c)            (repeated for each width in Spec.Hidden)
//
// to per-task heads z_t = A_tᵀh + b_t. All heads are stored side by side
// as one matrix, so one GEMM computes every task's logits for a whole batch
// and one GEMM gives every head's gradient. With the identity φ and one
// shared layer this is the classic shared-subspace model W_t = W·A_t; the
// command line's default is one ReLU layer.
//
// Tasks are Multiclass (softmax cross-entropy), Binary (sigmoid
// cross-entropy on logits, with an optional positive-class weight) and
// Regression (squared error on the standardised target). The training loss
// is
//
//	L = Σ_t λ_t · L_t,   L_t = (1/n_t) Σ_{i labelled for t} ℓ_t(z_i, y_i)
//
// where any (row, task) label may be missing and a batch without a label
// for a task adds nothing for it. A task family (one target split by a
// group) has one head per group, the family's shared head plus a deviation
// shrunk by its own L2 penalty, as in the regularised multi-task learning
// of Evgeniou and Pontil.
//
// Two regularisers act in training only (Config): label smoothing trains
// the classification tasks towards targets mixed with the uniform
// distribution, and dropout zeroes hidden units at random, with masks that
// are a pure function of the seed, the step, the member and the layer
// (see dropout.go). The validation loss, early stopping and prediction see
// neither.
//
// A Trainer keeps the data, parameters, gradients and optimiser state in a
// backend's memory (see package backend), gathers each batch on the device
// and reads back only the per-task loss sums at the end of an epoch. On the
// CPU backend the same seed and data give bit-identical parameters, and a
// run resumed from a checkpoint ends exactly where an uninterrupted run
// ends. Checkpoints are written in a versioned, checksummed file format
// (see Save) and replaced atomically.
//
// A model of several members (Spec.Members) trains them as one batched
// model: cross-validation folds, the seeds of an ensemble, or, with
// Config.MemberSettings, configurations that differ in learning rate,
// weight decay and dropout. Each member keeps its own best epoch and stops
// by its own patience, so that it ends as it would trained alone.
package mtl

package data

import (
	"math"
)

// Encoded is rows turned into numbers by a Schema.
type Encoded struct {
	// N is the number of rows and D the encoded width (Schema.Dim).
	N, D int
	// X holds the N×D features row-major: numeric columns standardised,
	// categorical columns one-hot (all zeros for an unseen category).
	X []float32
	// Index holds, per embedded feature in Schema.Embeddings order, each
	// row's row of the table: its value's, or 0 ("other") for a value
	// without one; the hashed row for a hashed table. nil without
	// embedded features.
	Index [][]int32
	// Labels holds, per target in Schema order, N values: the class index
	// (0..K−1) for multiclass, 0 or 1 (negative, positive) for binary,
	// float32(value − Target.Offset) for regression (the value itself
	// when the offset is 0), and NaN for a missing label. It is nil when
	// encoding without targets.
	Labels [][]float32
	// Groups holds each row's index into Schema.Groups, −1 for a group not
	// seen in training; nil without a group column.
	Groups []int32
}

// ClassIndices returns the labels of a classification target as class
// indices, −1 for a missing label, as metrics.Multiclass takes them.
func (e *Encoded) ClassIndices(target int) []int {
	out := make([]int, e.N)
	for i, v := range e.Labels[target] {
		if math.IsNaN(float64(v)) {
			out[i] = -1
			continue
		}
		out[i] = int(v)
	}
	return out
}

// LabelValues returns the labels of a target as float64, NaN for a missing
// label, as metrics.Binary and metrics.Regression take them.
func (e *Encoded) LabelValues(target int) []float64 {
	out := make([]float64, e.N)
	for i, v := range e.Labels[target] {
		out[i] = float64(v)
	}
	return out
}

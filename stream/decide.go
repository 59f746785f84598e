package stream

import (
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Mode is how a run asks for its training data to be held.
type Mode uint8

const (
	// Auto streams when the data would not fit the memory budget.
	Auto Mode = iota
	// Always streams, whatever the size of the data.
	Always
	// Never holds the data in memory, and refuses data that would not
	// fit the budget.
	Never
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Always:
		return "stream"
	case Never:
		return "in memory"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Need is the memory a run would take with its data in memory, by what
// it holds. Every amount is in bytes.
type Need struct {
	// Rows is the number of rows of the source (training and
	// validation).
	Rows int64
	// RowBytes is an encoded row as the trainer holds it in host memory:
	// its dense inputs, embedding indices, labels and group, 4 bytes each.
	RowBytes int64
	// DeviceRowBytes is a row in the trainer's device buffers (inputs,
	// label matrix, row order) when the device is the host's memory (the
	// CPU backend); 0 otherwise.
	DeviceRowBytes int64
	// FitRowBytes is what the first pass keeps per row for the split (the
	// group and the stratum of each row) and the split itself.
	FitRowBytes int64
	// Params is the number of the model's parameters, and ModelBytes
	// what they take with their gradients and optimiser state, and a
	// batch's activations.
	Params     int64
	ModelBytes int64
}

// Data is the memory of the encoded rows.
func (n Need) Data() int64 { return n.Rows * (n.RowBytes + n.DeviceRowBytes) }

// Total is the memory of the whole run.
func (n Need) Total() int64 { return n.Data() + n.Rows*n.FitRowBytes + n.ModelBytes }

// Estimate works out the memory a run on the source of res would take
// with its data in memory, for a model of spec trained with cfg;
// deviceIsHost says that the device's buffers are host memory (the CPU
// backend).
func Estimate(res *data.FitResult, spec mtl.Spec, cfg mtl.Config, deviceIsHost bool) Need {
	s := res.Schema
	n := Need{Rows: res.Rows, RowBytes: encodedRowBytes(s), FitRowBytes: 1}
	if res.Groups != nil {
		n.FitRowBytes += 4
	}
	if res.Strata != nil {
		n.FitRowBytes += 4
	}
	if deviceIsHost {
		n.DeviceRowBytes = deviceRowBytes(s, spec)
	}
	n.Params = int64(spec.NumParams())
	n.ModelBytes = modelBytes(spec, cfg, n.Params)
	return n
}

// encodedRowBytes is a row of the trainer's data set: dense inputs,
// embedding indices, one label per target and the group index.
func encodedRowBytes(s *data.Schema) int64 {
	b := 4 * int64(s.Dim()+len(s.Embeddings())+len(s.Targets))
	if s.GroupColumn != "" {
		b += 4
	}
	return b
}

// deviceRowBytes is a row in the trainer's buffers: its inputs, its line
// of the label matrix (per task the label, a mask per member and the
// group), its place in the row order, and the host's row order.
func deviceRowBytes(s *data.Schema, spec mtl.Spec) int64 {
	members := int64(max(spec.Members, 1))
	perTask := 1 + members
	if s.GroupColumn != "" {
		perTask++
	}
	return 4*int64(s.Dim()) + 4*perTask*int64(len(s.Targets)) + 4 + 4 + 8*int64(len(s.Embeddings()))
}

// modelBytes is the model's parameters on the host and the device, their
// gradients and the optimiser's state (two moments for Adam, a velocity
// for SGD), and a batch's activations.
func modelBytes(spec mtl.Spec, cfg mtl.Config, params int64) int64 {
	copies := int64(4) // host, device, gradient, the best epoch's
	switch cfg.Optimizer {
	case mtl.SGD:
		copies++
	default:
		copies += 2
	}
	width := int64(spec.InputWidth())
	for _, h := range spec.Hidden {
		width += 3 * int64(h) * int64(max(spec.Experts+spec.TaskExperts, 1))
	}
	for _, t := range spec.Tasks {
		width += 2 * int64(max(t.Classes, 1))
	}
	return 4*copies*params + 4*int64(max(cfg.Batch, 1))*width*int64(max(spec.Members, 1))
}

// Decision is whether a run streams its training data, and why.
type Decision struct {
	// Stream is set when the run streams.
	Stream bool
	// Reason is one line that says which and why, for the run to print.
	Reason string
	// Need is the estimate the decision was made on, and Budget the
	// budget.
	Need   Need
	Budget Budget
}

// Decide decides whether a run streams: when mode is Always, or when it
// is Auto and the run would need more than the budget. notStreamable,
// when not nil, says why the source cannot be streamed (a pipe). A run
// that cannot be held as asked is an error: Never with a need over the
// budget, Always or a need over the budget with a source that cannot be
// streamed.
func Decide(need Need, budget Budget, mode Mode, notStreamable error) (Decision, error) {
	d := Decision{Need: need, Budget: budget}
	fits := need.Total() <= budget.Bytes
	what := fmt.Sprintf("the %d rows encoded (%s a row) and the model of %d parameters need about %s",
		need.Rows, FormatSize(need.RowBytes+need.DeviceRowBytes), need.Params, FormatSize(need.Total()))
	switch {
	case mode == Always && notStreamable != nil:
		return d, notStreamable
	case mode == Always:
		d.Stream = true
		d.Reason = fmt.Sprintf("streaming the training data, as asked: %s, with a memory budget of %s", what, budget)
	case fits:
		d.Reason = fmt.Sprintf("training in memory: %s, within the memory budget of %s", what, budget)
	case mode == Never:
		return d, fmt.Errorf("%s, more than the memory budget of %s, and streaming is off", what, budget)
	case notStreamable != nil:
		return d, fmt.Errorf("%s, more than the memory budget of %s, and the data cannot be streamed: %w", what, budget, notStreamable)
	default:
		d.Stream = true
		d.Reason = fmt.Sprintf("streaming the training data: %s, more than the memory budget of %s", what, budget)
	}
	return d, nil
}

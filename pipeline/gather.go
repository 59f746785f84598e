package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// gatherer gathers bytes from every process of a data-parallel run over
// its collective, for the statistics pass they share (data.Options.Split):
// the lengths in one all-reduce, then each process's bytes broadcast in
// rank order.
type gatherer struct{ c mtl.Collective }

var _ data.Gatherer = gatherer{}

func (g gatherer) Size() int { return g.c.Size() }
func (g gatherer) Rank() int { return g.c.Rank() }

// AllGather returns every process's bytes, in rank order.
func (g gatherer) AllGather(b []byte) ([][]byte, error) {
	n := make([]int64, g.c.Size())
	n[g.c.Rank()] = int64(len(b))
	if err := g.c.MaxInt64(n); err != nil {
		return nil, err
	}
	out := make([][]byte, len(n))
	for r, size := range n {
		buf := b
		if r != g.c.Rank() {
			buf = make([]byte, size)
		}
		if err := g.c.Bcast(buf, r); err != nil {
			return nil, fmt.Errorf("gathering the part of process %d: %w", r, err)
		}
		out[r] = buf
	}
	return out, nil
}

// describeFirstPass says how the processes of a data-parallel run shared
// the pass that learnt the schema.
func describeFirstPass(res *data.FitResult, g mtl.Collective) string {
	switch {
	case g == nil || g.Size() < 2:
		return ""
	case res.Parts > 1:
		return fmt.Sprintf("statistics pass shared: each of %d processes read its part of the rows", res.Parts)
	}
	return fmt.Sprintf("statistics pass not shared: each of %d processes read every row (%s)", g.Size(), res.Whole)
}

// jobID names the files that the processes of a data-parallel run share:
// rank 0's process ID and start time, the same on every process.
func jobID(g mtl.Collective) (string, error) {
	b := make([]byte, 16)
	if g.Rank() == 0 {
		binary.LittleEndian.PutUint64(b, uint64(os.Getpid()))
		binary.LittleEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	}
	if err := g.Bcast(b, 0); err != nil {
		return "", fmt.Errorf("naming the shared block cache: %w", err)
	}
	return fmt.Sprintf("%d-%x", binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])&0xffffffff), nil
}

// sharedPredictions returns PredictMembers over the validation rows val
// shared by the processes of a data-parallel run: each predicts its
// share, rows ⌊rV/N⌋…⌊(r+1)V/N⌋−1, and the predictions are gathered in
// rank order, so that every process scores the same predictions of every
// row. A process whose prediction fails still joins the gather, and every
// process returns the first error.
func sharedPredictions(g data.Gatherer, b backend.Backend, val *mtl.Dataset, inputs int) func(*mtl.Model) ([][][]float32, error) {
	n, r := g.Size(), g.Rank()
	rows := make([]int, 0, val.N*(r+1)/n-val.N*r/n)
	for i := val.N * r / n; i < val.N*(r+1)/n; i++ {
		rows = append(rows, i)
	}
	part := val.Rows(rows, inputs)
	return func(cur *mtl.Model) ([][][]float32, error) {
		per, err := cur.PredictMembers(b, part)
		var msg []byte
		if err == nil {
			for _, tasks := range per {
				for _, p := range tasks {
					for _, v := range p {
						msg = binary.LittleEndian.AppendUint32(msg, math.Float32bits(v))
					}
				}
			}
		}
		all, err := data.Gather(g, "gathering the validation predictions", msg, err)
		if err != nil {
			return nil, err
		}
		// Every process's predictions, member by member and task by task,
		// each of its rows' values; the whole is theirs in rank order.
		tasks := cur.Spec.Tasks
		out := make([][][]float32, len(per))
		for m := range out {
			out[m] = make([][]float32, len(tasks))
		}
		for q, body := range all {
			k := val.N*(q+1)/n - val.N*q/n
			for m := range out {
				for t, task := range tasks {
					width := 1
					if task.Type == mtl.Multiclass {
						width = task.Classes
					}
					size := 4 * k * width
					if len(body) < size {
						return nil, fmt.Errorf("gathering the validation predictions: process %d sent %d bytes too few", q, size-len(body))
					}
					for i := 0; i < size; i += 4 {
						out[m][t] = append(out[m][t], math.Float32frombits(binary.LittleEndian.Uint32(body[i:])))
					}
					body = body[size:]
				}
			}
		}
		return out, nil
	}
}

// sharedKeys is read (a run's scan of every row's group and stratum)
// shared by the processes of a data-parallel run: each reads its part of
// src, and the parts' keys are gathered in rank order, when every process
// can read src in parts; else each reads src whole. The first error in
// rank order is every process's.
func sharedKeys(ctx context.Context, g data.Gatherer, src data.Source, read func(context.Context, data.Source) (rowKeys, error)) (rowKeys, error) {
	ps, ok := src.(data.PartScanner)
	can := []byte{0}
	if ok && ps.Splittable() == nil {
		can[0] = 1
	}
	all, err := g.AllGather(can)
	if err != nil {
		return rowKeys{}, fmt.Errorf("reading the rows' groups and classes: %w", err)
	}
	for _, c := range all {
		if c[0] == 0 {
			return read(ctx, src)
		}
	}
	keys, err := read(ctx, data.Part(ps, g.Rank(), g.Size()))
	// A part: its rows, whether it has groups and strata, and their
	// indices.
	var msg []byte
	if err == nil {
		msg = binary.LittleEndian.AppendUint64(msg, uint64(keys.rows))
		for _, ids := range [][]int32{keys.groups, keys.strata} {
			if ids == nil {
				msg = append(msg, 0)
				continue
			}
			msg = append(msg, 1)
			for _, id := range ids {
				msg = binary.LittleEndian.AppendUint32(msg, uint32(id))
			}
		}
	}
	if all, err = data.Gather(g, "gathering the rows' groups and classes", msg, err); err != nil {
		return rowKeys{}, err
	}
	var out rowKeys
	for _, m := range all {
		rows := int(binary.LittleEndian.Uint64(m))
		out.rows += rows
		m = m[8:]
		for _, ids := range []*[]int32{&out.groups, &out.strata} {
			has := m[0] == 1
			m = m[1:]
			if !has {
				continue
			}
			for i := range rows {
				*ids = append(*ids, int32(binary.LittleEndian.Uint32(m[4*i:])))
			}
			m = m[4*rows:]
		}
	}
	return out, nil
}

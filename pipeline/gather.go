package pipeline

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

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
	return fmt.Sprintf("statistics pass not shared: each of %d processes read every row (a row filter, or a source that cannot be read in parts)", g.Size())
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

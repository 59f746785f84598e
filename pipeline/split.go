package pipeline

import (
	"github.com/mtl-gpu/mtl-gpu/internal/trainset"
)

// split divides the rows 0..n-1 at random into a part of about frac of
// them and the rest, from seed, by group when groups is not nil (see
// trainset.Split, which a streamed run holds out by too).
func split(n int, frac float64, seed uint64, groups []int32) (rest, part []int) {
	return trainset.Split(n, frac, seed, groups)
}

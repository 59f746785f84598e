package trainset

import (
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Dataset turns encoded rows into the trainer's form, for a model with
// one task per target: the matrix, the embedding indices and the labels
// as they are (not copied), and the group column, when there is one, as
// every task's group index (one slice shared by all).
func Dataset(enc *data.Encoded, tasks int) *mtl.Dataset {
	d := &mtl.Dataset{N: enc.N, X: enc.X, Index: enc.Index, Labels: enc.Labels}
	for range tasks {
		d.Groups = append(d.Groups, enc.Groups)
	}
	return d
}

package cpu

import (
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Dropout sets dst = src ⊙ mask/q with the mask of key (see
// backend.DropoutKeep), row by row.
func (b *Backend) Dropout(dst, src backend.Mat, key uint64, row0 int, p float32) {
	backend.CheckDropout(dst, src, row0, p)
	if dst.Rows == 0 || dst.Cols == 0 {
		return
	}
	dd, dld := mat(dst, "Dropout dst")
	sd, sld := mat(src, "Dropout src")
	threshold, scale := int32(backend.DropoutThreshold(p)), backend.DropoutScale(p)
	cols := dst.Cols
	b.workers.parallel(dst.Rows, rowGrain(cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d, s := dd[i*dld:i*dld+cols], sd[i*sld:i*sld+cols]
			base := uint32(row0+i) * uint32(cols)
			for j, v := range s {
				// All ones when the top 24 bits of the hash reach the
				// threshold, else 0 (their difference is negative): a
				// kept element keeps its bits, a dropped one becomes +0,
				// without a branch the hash would make unpredictable.
				keep := ^uint32((int32(backend.DropoutHash(key, base+uint32(j))>>8) - threshold) >> 31)
				d[j] = math.Float32frombits(math.Float32bits(v*scale) & keep)
			}
		}
	})
}

package cpu

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// blasImpl is the matrix multiply the backend calls: row-major Sgemm with
// blas32 semantics.
type blasImpl interface {
	Name() string
	Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

// pureGo is gonum's Sgemm, written in Go and parallel over GOMAXPROCS.
type pureGo struct{ gonum.Implementation }

func (pureGo) Name() string { return "gonum" }

// selectBLAS returns the implementation named by choice: "", "auto",
// "gonum" or "openblas".
func selectBLAS(choice string, threads int) (blasImpl, error) {
	switch choice {
	case "", "auto":
		if ob, err := loadOpenBLAS(threads); err == nil {
			return ob, nil
		}
		return pureGo{}, nil
	case "gonum":
		return pureGo{}, nil
	case "openblas":
		return loadOpenBLAS(threads)
	}
	return nil, fmt.Errorf("unknown BLAS %q (want auto, gonum or openblas)", choice)
}

package cpu

import "errors"

// loadOpenBLAS opens OpenBLAS at run time.
func loadOpenBLAS(threads int) (blasImpl, error) {
	return nil, errors.New("openblas: not yet supported")
}

package cpu

import "testing"

// BLAS is the matrix multiply a backend calls: row-major Sgemm with blas32
// semantics.
type BLAS = blasImpl

// LoadOpenBLASFrom loads OpenBLAS trying the given library names.
var LoadOpenBLASFrom = loadOpenBLASFrom

// LoadOpenBLAS loads OpenBLAS from its usual names.
func LoadOpenBLAS(threads int) (BLAS, error) { return loadOpenBLAS(threads) }

// Gonum returns gonum's Sgemm, as the backend calls it.
func Gonum() BLAS { return pureGo{} }

// OpenBLASNames returns the names loadOpenBLAS tries.
func OpenBLASNames() []string { return append([]string(nil), openblasNames...) }

// SetOpenBLASNames makes the backend try names instead of the usual ones
// until t ends. Tests that call it must not run in parallel with others.
func SetOpenBLASNames(t testing.TB, names []string) {
	old := openblasNames
	openblasNames = names
	t.Cleanup(func() { openblasNames = old })
}

// Package cpu is the mtl-gpu backend that runs on the host's cores.
//
// Buffers are Go slices. Matrix multiplies go to a BLAS: gonum's pure-Go
// Sgemm, or OpenBLAS when it is present. The other operations split their
// rows across a fixed pool of worker goroutines. Reductions (column sums,
// loss sums, squared norms) add float64 partial sums over fixed chunks of
// rows in a fixed order, so every result is bit-identical from run to run
// and independent of the number of threads.
//
// The backend is the reference that the conformance suite in
// backend/backendtest holds every other backend to, and is itself checked
// there against plain float64 loops.
package cpu

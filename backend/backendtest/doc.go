// Package backendtest is the conformance suite every backend passes, in
// the manner of gonum's blas/testblas and ggml's test-backend-ops: one set
// of checks, run by each implementation's own tests.
//
// Run(t, b) checks every operation of b against the CPU backend on odd
// shapes (1, 7, 17 and above 1,000 rows), every transpose and strided,
// offset views whose neighbourhood is filled with sentinels, so that a
// write outside a view is caught, and it checks that inputs are left
// bit-for-bit unchanged. GEMM results must agree within 1e-5·Σ|a||b| per
// element; other operations within tolerances stated next to them.
//
// The reference is itself checked: Compare holds the CPU backend to
// Reference, a plain float64 implementation of every operation written as
// loops (gonum's float32 kernels are generated and not directly tested).
// The tolerance helpers (Within and friends) are tested too, against the
// classic bug of a relative tolerance computed from one operand twice.
package backendtest

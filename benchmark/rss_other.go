//go:build !unix

package benchmark

// PeakRSS is unknown here.
func PeakRSS() float64 { return 0 }

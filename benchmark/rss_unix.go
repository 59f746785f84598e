//go:build unix

package benchmark

import (
	"runtime"
	"syscall"
)

// PeakRSS returns the process's peak resident memory in bytes, or 0 when
// unknown.
func PeakRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss) // bytes on macOS
	}
	return float64(ru.Maxrss) * 1024 // kilobytes elsewhere
}

// Package dynlib holds what the bindings that open shared libraries at
// run time (OpenBLAS for the CPU backend, the CUDA driver and cuBLAS, Open
// MPI) share: opening a library and finding its symbols through purego,
// and reporting why a library could not be opened.
package dynlib

import "strings"

// Reason turns dlopen's error for name into one line that starts with the
// name (dlopen's message usually does already); fallback stands in for an
// empty message.
func Reason(name string, err error, fallback string) string {
	msg := strings.TrimSpace(err.Error())
	if msg == "" {
		msg = fallback
	}
	if strings.HasPrefix(msg, name) {
		return msg
	}
	return name + ": " + msg
}

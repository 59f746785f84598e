//go:build !unix

package data

import "os"

// mmapFile returns nil: files are read with ReadAt on this system.
func mmapFile(f *os.File, size int64) []byte { return nil }

// munmap does nothing on this system.
func munmap(b []byte) {}

//go:build unix

package data

import (
	"os"
	"syscall"
)

// mmapFile maps the first size bytes of f read-only, or returns nil when
// the system refuses (the caller then reads with ReadAt).
func mmapFile(f *os.File, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

// munmap releases a mapping made by mmapFile.
func munmap(b []byte) { _ = syscall.Munmap(b) }

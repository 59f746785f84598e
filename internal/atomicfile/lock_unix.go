//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile opens and flocks the lock file name of target, making sure the
// file locked is still the one at name (a releasing holder unlinks it).
func lockFile(name, target string) (*os.File, error) {
	for range 100 {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", target, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := readPID(f)
			f.Close()
			return nil, &LockedError{Path: target, PID: pid}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", target, err)
		}
		a, aerr := f.Stat()
		b, berr := os.Stat(name)
		if aerr == nil && berr == nil && os.SameFile(a, b) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: the lock file keeps changing", target)
}

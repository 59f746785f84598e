//go:build !unix

package atomicfile

import (
	"fmt"
	"os"
)

// lockFile opens the lock file name of target. Without flock(2) the lock
// only records the holder; it excludes nobody.
func lockFile(name, target string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", target, err)
	}
	return f, nil
}

package atomicfile

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// LockedError reports an output that another process is writing.
type LockedError struct {
	// Path is the output and PID the process holding its lock (0 when it
	// could not be read).
	Path string
	PID  int
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s is being written by another process (pid %d); wait for it to finish or choose another output", e.Path, e.PID)
	}
	return fmt.Sprintf("%s is being written by another process; wait for it to finish or choose another output", e.Path)
}

// Lock is the advisory lock of an output path, held by this process: an
// flock(2) on the file PATH.lock, which holds the holder's process id.
// The kernel releases it when the process ends, however it ends, so a
// lock file left by a killed process does not block anyone.
type Lock struct {
	path string // the lock file
	f    *os.File
	refs int
}

// held maps the lock files this process holds to their locks, so that a
// process that holds the lock of an output for a whole run (a trainer
// saving every epoch) can write it without locking itself out.
var held = struct {
	sync.Mutex
	m map[string]*Lock
}{m: map[string]*Lock{}}

// Acquire takes the lock of the output path (after symbolic links), or
// fails at once with a *LockedError when another process holds it. Taking
// a lock this process already holds counts one more Release to make.
func Acquire(path string) (*Lock, error) {
	target, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	name := target + ".lock"
	held.Lock()
	defer held.Unlock()
	if l := held.m[name]; l != nil {
		l.refs++
		return l, nil
	}
	f, err := lockFile(name, target)
	if err != nil {
		return nil, err
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	l := &Lock{path: name, f: f, refs: 1}
	held.m[name] = l
	return l, nil
}

// Release gives the lock up once it has been released as often as it was
// acquired, removing the lock file. Releasing nil does nothing.
func (l *Lock) Release() {
	if l == nil {
		return
	}
	held.Lock()
	defer held.Unlock()
	if l.refs--; l.refs > 0 {
		return
	}
	delete(held.m, l.path)
	// Remove before unlocking: whoever opens the name next makes a new
	// file, and whoever had opened this one finds it unlinked and retries.
	os.Remove(l.path)
	l.f.Close()
}

// readPID reads the process id written in a lock file.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	return pid
}

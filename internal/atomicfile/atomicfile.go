// Package atomicfile writes whole files so that a reader, a crash or a
// kill never sees a partial one: the content goes to a temporary file in
// the same directory, which is synced to disk and renamed over the target,
// and the directory is synced so that the rename itself survives a crash.
// Every whole-file output of mtl-gpu (model files, predictions, plots)
// goes through Write; appended logs and standard output do not.
//
// Write also keeps the promises a user expects of an ordinary save:
//
//   - A symbolic link at the path is written through: the new file
//     replaces the link's target, and the link stays.
//   - A new file gets the mode os.Create would give it (0666 less the
//     umask); a replaced file keeps its mode.
//   - Two writers of one path never interleave: each holds an advisory
//     lock (see Acquire) while it writes, and a second one fails at once,
//     naming the holder's process id.
//   - Temporary files left beside the path by a writer that was killed
//     are removed by the next write to it.
//   - What is not a regular file (a device such as /dev/null, a
//     directory) is never replaced.
package atomicfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// beforeRename, when set (by tests), runs after the temporary file is
// written and synced and before it replaces the target.
var beforeRename func()

// Write writes path atomically with the content write produces; writes
// are buffered. On any error the temporary file is removed and path is
// left as it was. Errors name path.
func Write(path string, write func(io.Writer) error) (err error) {
	defer func() {
		if err != nil {
			var le *LockedError
			if !errors.As(err, &le) {
				err = fmt.Errorf("write %s: %w", path, err)
			}
		}
	}()
	target, err := Resolve(path)
	if err != nil {
		return err
	}
	existing, serr := os.Stat(target)
	if serr == nil && !existing.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%v): it cannot be replaced", target, existing.Mode().Type())
	}
	lock, err := Acquire(target)
	if err != nil {
		return err
	}
	defer lock.Release()
	dir, base := filepath.Dir(target), filepath.Base(target)
	removeOrphans(dir, base)
	f, err := createTemp(dir, base)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if serr == nil {
		if err = f.Chmod(existing.Mode().Perm()); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		beforeRename()
	}
	if err = os.Rename(tmp, target); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// tempPrefix starts the name of every temporary file of path base.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// createTemp creates a new temporary file for base in dir with mode 0666
// less the umask, as os.Create does (os.CreateTemp would give 0600).
func createTemp(dir, base string) (*os.File, error) {
	for range 100 {
		var r [6]byte
		rand.Read(r[:])
		name := filepath.Join(dir, tempPrefix(base)+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}

// removeOrphans removes the temporary files of base left in dir by
// writers that were killed. The caller holds the path's lock, so no live
// writer owns one.
func removeOrphans(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Resolve follows symbolic links at path (even to a target that does not
// exist yet) and returns the path of the file a write must replace.
func Resolve(path string) (string, error) {
	p := path
	for range 64 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// Package atomicfile writes whole files so that a reader, a crash or a
// kill never sees a partial one: the content goes to a temporary file in
// the same directory, which is synced to disk and renamed over the target,
// and the directory is synced so that the rename itself survives a crash.
// Every whole-file output of mtl-gpu (model files, predictions, plots)
// goes through Write; appended logs and standard output do not.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// beforeRename, when set (by tests), runs after the temporary file is
// written and synced and before it replaces the target.
var beforeRename func()

// Write writes path atomically with the content write produces; writes
// are buffered. On any error the temporary file is removed and path is
// left as it was. Errors name path.
func Write(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
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
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/runlog"
)

// Input is an input file of a command, named by its option, for
// CheckOutput.
type Input struct {
	Option, Path string
}

// CheckOutput refuses an output that is one of the command's inputs: the
// same file after symbolic links (or another hard link to it), so that a
// mistyped --out never overwrites the data or the model it is computed
// from. The error is an *OptionError naming option. An output "-"
// (standard output) passes.
func CheckOutput(option, path string, inputs ...Input) error {
	if path == "" || path == "-" {
		return nil
	}
	for _, in := range inputs {
		if in.Path == "" || in.Path == "-" {
			continue
		}
		if samePath(path, in.Path) {
			what := "the same file"
			if in.Path != path {
				what = "the same file as " + in.Path
			}
			return optionErrorf(option, path, "is --%s (%s): refusing to overwrite an input", in.Option, what)
		}
	}
	return nil
}

// checkModelOut refuses to replace a file that is not an mtl-gpu model
// with a model, unless force.
func checkModelOut(path string, force bool) error {
	if force {
		return nil
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &OptionError{Option: "out", Value: path, Err: err}
	}
	if st.Mode().IsRegular() && st.Size() == 0 {
		return nil
	}
	if ok, err := mtl.IsModelFile(path); err != nil || !ok {
		return optionErrorf("out", path, "exists and is not an mtl-gpu model file; --force replaces it")
	}
	return nil
}

// checkLogOut refuses to append a log to a file that is not one, unless
// force.
func checkLogOut(path string, force bool) error {
	if force || path == "" {
		return nil
	}
	if err := runlog.CheckAppend(path); err != nil {
		if errors.Is(err, runlog.ErrNotLog) {
			return optionErrorf("log", path, "exists and is not an mtl-gpu training log; --force appends to it anyway")
		}
		return &OptionError{Option: "log", Value: path, Err: err}
	}
	return nil
}

// exists reports whether something is at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// absPath returns path made absolute, or path itself when that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// samePath reports whether two paths name one file: the same file when
// both exist, else the same absolute path after symbolic links.
func samePath(a, b string) bool {
	sa, erra := os.Stat(a)
	sb, errb := os.Stat(b)
	if erra == nil && errb == nil {
		return os.SameFile(sa, sb)
	}
	ra, err1 := atomicfile.Resolve(a)
	rb, err2 := atomicfile.Resolve(b)
	return err1 == nil && err2 == nil && absPath(ra) == absPath(rb)
}

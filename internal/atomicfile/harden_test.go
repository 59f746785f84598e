package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeString(path, s string) error {
	return Write(path, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
}

// TestWriteThroughSymlink: a link at the path stays a link, and the file
// it points to (through a chain of links, or not yet existing) gets the
// content.
func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "models", "real.mtl")
	os.Mkdir(filepath.Dir(real), 0o755)
	os.WriteFile(real, []byte("old"), 0o644)
	link := filepath.Join(dir, "link.mtl")
	chain := filepath.Join(dir, "chain.mtl")
	if err := os.Symlink("models/real.mtl", link); err != nil {
		t.Fatal(err)
	}
	os.Symlink("link.mtl", chain)
	for _, p := range []string{link, chain} {
		if err := writeString(p, "new "+p); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symbolic link (%v)", p, err)
		}
		if got, _ := os.ReadFile(real); string(got) != "new "+p {
			t.Errorf("the link's target holds %q", got)
		}
	}
	dangling := filepath.Join(dir, "dangling.mtl")
	os.Symlink("models/later.mtl", dangling)
	if err := writeString(dangling, "x"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "models", "later.mtl")); string(got) != "x" {
		t.Errorf("a dangling link's target holds %q", got)
	}
	if fi, _ := os.Lstat(dangling); fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("the dangling link was replaced")
	}
}

// TestModes: a new file gets 0666 less the umask, as os.Create gives; a
// replaced file keeps its mode.
func TestModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "new.csv")
	if err := writeString(p, "a"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file has mode %v under umask 022, want 0644", fi.Mode().Perm())
	}
	syscall.Umask(0o077)
	q := filepath.Join(dir, "private.csv")
	writeString(q, "a")
	if fi, _ := os.Stat(q); fi.Mode().Perm() != 0o600 {
		t.Errorf("new file has mode %v under umask 077, want 0600", fi.Mode().Perm())
	}
	syscall.Umask(0o022)
	for _, mode := range []fs.FileMode{0o600, 0o640, 0o664} {
		os.Chmod(p, mode)
		if err := writeString(p, "b"); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != mode {
			t.Errorf("replaced file has mode %v, was %v", fi.Mode().Perm(), mode)
		}
	}
}

// TestRefusesSpecialFiles: a device or a directory at the path is never
// replaced by a file.
func TestRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{os.DevNull, dir} {
		if err := writeString(p, "x"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s was replaced", os.DevNull)
	}
}

// TestRemovesOrphans: temporary files of the path left by a killed writer
// go at the next write; those of other paths stay.
func TestRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.mtl")
	orphans := []string{".m.mtl.tmp-1234", ".m.mtl.tmp-abcdef"}
	for _, o := range orphans {
		os.WriteFile(filepath.Join(dir, o), []byte("partial"), 0o600)
	}
	other := filepath.Join(dir, ".other.mtl.tmp-1")
	os.WriteFile(other, nil, 0o600)
	if err := writeString(p, "model"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".other.mtl.tmp-1 m.mtl" {
		t.Errorf("directory holds %v, want the output and the other path's file", names)
	}
}

// TestLockedByAnotherProcess: while a child process holds the lock of an
// output, a write fails at once naming the child's process id; once the
// child is gone (even killed), writing works again.
func TestLockedByAnotherProcess(t *testing.T) {
	if path := os.Getenv("MTLGPU_TEST_HOLD_LOCK"); path != "" {
		if _, err := Acquire(path); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path+".ready", nil, 0o644)
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.mtl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedByAnotherProcess$")
	cmd.Env = append(os.Environ(), "MTLGPU_TEST_HOLD_LOCK="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	err := writeString(path, "second")
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("write while locked: %v (child pid %d)", err, cmd.Process.Pid)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the second writer waited %v instead of failing at once", time.Since(start))
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("the locked output was written")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if err := writeString(path, "third"); err != nil {
		t.Fatalf("write after the holder was killed: %v", err)
	}
}

// TestLockReentrant: a process holding an output's lock for a whole run
// writes it as often as it likes; the lock file goes with the last
// release.
func TestLockReentrant(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.mtl")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := writeString(path, strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("lock file gone while held: %v", err)
	}
	l.Release()
	if _, err := os.Stat(path + ".lock"); err == nil {
		t.Error("lock file left after the release")
	}
}

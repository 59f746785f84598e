package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failingWriter fails after n bytes.
type failingWriter struct {
	w io.Writer
	n int
}

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errDiskFull
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "hello" {
		t.Fatalf("file holds %q", got)
	}
}

// TestFailsPartWay: a write that fails after N bytes leaves the previous
// file as it was, no temporary file behind, and an error naming the file.
func TestFailsPartWay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.mtl")
	old := bytes.Repeat([]byte("old "), 50000)
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("new!"), 100000)
	for _, n := range []int{0, 10, 1000, 70000, len(content) - 3} {
		err := Write(path, func(w io.Writer) error {
			_, err := (&failingWriter{w: w, n: n}).Write(content)
			return err
		})
		if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), path) {
			t.Fatalf("write failing after %d bytes returned %v", n, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
			t.Fatalf("a write failing after %d bytes changed the file", n)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestKilledBetweenWriteAndRename runs a write in a child process that is
// killed with SIGKILL after the new file is written and before it is
// renamed over the old one. The old file must be intact.
func TestKilledBetweenWriteAndRename(t *testing.T) {
	if path := os.Getenv("MTLGPU_TEST_KILL_WRITE"); path != "" {
		beforeRename = func() {
			os.WriteFile(path+".ready", nil, 0o644)
			time.Sleep(time.Minute)
		}
		Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "new content"); return err })
		t.Fatal("the write was not killed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.mtl")
	if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledBetweenWriteAndRename$")
	cmd.Env = append(os.Environ(), "MTLGPU_TEST_KILL_WRITE="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child never reached the rename")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if got, err := os.ReadFile(path); err != nil || string(got) != "old content" {
		t.Fatalf("after the kill the file holds %q (%v)", got, err)
	}
}

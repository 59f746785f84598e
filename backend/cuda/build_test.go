package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestBuildsWithoutCgo builds the package without cgo for platforms that
// load the driver (Linux on amd64 and arm64) and for some that cannot, where
// the binding reports that it is not supported: a binary with the backend
// must build, and start, everywhere.
func TestBuildsWithoutCgo(t *testing.T) {
	// A test binary copied elsewhere (scripts/gpu-check.sh) has no sources
	// around it.
	if _, err := os.Stat("build_test.go"); err != nil {
		t.Skip("not run from the package's source directory")
	}
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gotool); err != nil {
		if gotool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command")
		}
	}
	for _, target := range [][2]string{
		{"linux", "amd64"}, {"linux", "arm64"}, {"linux", "386"}, {"darwin", "arm64"}, {"windows", "amd64"},
	} {
		t.Run(target[0]+"/"+target[1], func(t *testing.T) {
			cmd := exec.Command(gotool, "build", "./...")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+target[0], "GOARCH="+target[1], "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
		})
	}
}

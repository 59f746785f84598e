package mpi

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestOpenMissing(t *testing.T) {
	_, err := open([]string{"libmpi-absent.so.40"}, nil)
	var load *LoadError
	if !errors.As(err, &load) || !errors.Is(err, ErrNoMPI) {
		t.Fatalf("open of a missing library: %v, want a *LoadError wrapping ErrNoMPI", err)
	}
	if want := "no Open MPI library found (libmpi-absent.so.40: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestOpenRefusesNonMPI(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("MPI is loaded only on linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	_, err := open([]string{"libc.so.6"}, nil)
	if !errors.Is(err, ErrNoMPI) || !strings.Contains(err.Error(), "libc.so.6: not an MPI library (no MPI_Init)") {
		t.Fatalf("open(libc.so.6): %v, want it refused as not an MPI library", err)
	}
}

// fakeMPICH compiles testdata/fakempich.c into a library that says it is
// version; without a C compiler it skips the test (fails it with
// MTLGPU_REQUIRE_CC=1).
func fakeMPICH(t *testing.T, name, version string) string {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("MPI is loaded only on linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	cc := ""
	for _, c := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
		if p, err := exec.LookPath(c); c != "" && err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		if os.Getenv("MTLGPU_REQUIRE_CC") == "1" {
			t.Fatal("no C compiler ($CC, cc, gcc or clang) to build the MPICH stand-in, and MTLGPU_REQUIRE_CC=1")
		}
		t.Skip("no C compiler ($CC, cc, gcc or clang) to build the MPICH stand-in (set MTLGPU_REQUIRE_CC=1 to fail instead)")
	}
	lib := filepath.Join(t.TempDir(), name)
	out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, `-DFAKE_VERSION="`+version+`"`, filepath.Join("testdata", "fakempich.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("building the MPICH stand-in: %v\n%s", err, out)
	}
	return lib
}

func TestOpenRefusesMPICH(t *testing.T) {
	lib := fakeMPICH(t, "libmpi.so.12", `MPICH Version:\t4.0.2\nMPICH Release date: Thu Mar 10 2022`)
	// Asked for by name.
	_, err := Open(lib)
	var unsupported *UnsupportedError
	if !errors.As(err, &unsupported) || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Open(MPICH): %v, want an *UnsupportedError wrapping ErrUnsupported", err)
	}
	want := "MPICH is not supported: " + lib + " is MPICH Version: 4.0.2, whose handles are integers, not symbols; this binding needs Open MPI (libmpi.so.40)"
	if err.Error() != want {
		t.Errorf("error\n%q, want\n%q", err, want)
	}
	// Found when Open MPI is missing: the error says both.
	_, err = open([]string{"libmpi-absent.so.40"}, []string{"libmpich-absent.so.12", lib})
	if !errors.As(err, &unsupported) || unsupported.Name != lib {
		t.Fatalf("open with MPICH only: %v, want MPICH named", err)
	}
	for _, part := range []string{"MPICH is not supported: " + lib, "which did not load (libmpi-absent.so.40: "} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q lacks %q", err, part)
		}
	}
}

func TestOpenRefusesUnknownMPI(t *testing.T) {
	lib := fakeMPICH(t, "libsomempi.so.3", `Some MPI 1.0`)
	_, err := Open(lib)
	want := "this MPI library is not supported: " + lib + " is Some MPI 1.0, not Open MPI; this binding needs Open MPI (libmpi.so.40)"
	if err == nil || err.Error() != want {
		t.Fatalf("Open(an unknown MPI): %v, want %q", err, want)
	}
}

func TestFamily(t *testing.T) {
	for _, c := range []struct{ name, version, want string }{
		{"libmpi.so.12", "", "MPICH"},
		{"/opt/mpich/lib/libmpich.so.12", "", "MPICH"},
		{"libmpi.so", "MPICH Version: 4.1", "MPICH"},
		{"libmpi.so", "MVAPICH2 Version: 2.3.7", "MPICH"},
		{"libmpi.so", "Intel(R) MPI Library 2021.6 for Linux* OS", "MPICH"},
		{"libmpi.so.99", "Some MPI 1.0", "this MPI library"},
		{"libmpi.so.120", "", "this MPI library"},
		{"libmpi.so.12.2.2", "", "MPICH"},
	} {
		if got := family(c.name, c.version); got != c.want {
			t.Errorf("family(%q, %q) = %q, want %q", c.name, c.version, got, c.want)
		}
	}
}

func TestFirstLine(t *testing.T) {
	if got := firstLine("MPICH Version:\t4.0.2\nMPICH Release date: x\n"); got != "MPICH Version: 4.0.2" {
		t.Errorf("firstLine = %q", got)
	}
	if got := firstLine("  Open MPI v4.1.4,  package: Debian\r\n"); got != "Open MPI v4.1.4, package: Debian" {
		t.Errorf("firstLine = %q", got)
	}
}

func TestErrorText(t *testing.T) {
	var err error = &Error{Func: "MPI_Bcast", Code: 8, Text: "MPI_ERR_ROOT: invalid root"}
	if got, want := err.Error(), "MPI_Bcast: MPI_ERR_ROOT: invalid root (MPI error 8)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Error{Func: "MPI_Barrier", Code: 16}).Error(), "MPI_Barrier: MPI error 16"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := errors.Join(errors.New("context"), err)
	if !IsCode(wrapped, 8) || IsCode(wrapped, 9) || IsCode(errors.New("x"), 8) {
		t.Error("IsCode does not find the code of a wrapped *Error, or finds a wrong one")
	}
	// Without a library, a failed call still names itself and its code.
	var l *Library
	if got := l.check("MPI_Barrier", 16); got == nil || got.Error() != "MPI_Barrier: MPI error 16" {
		t.Errorf("check without a library = %v", got)
	}
	if l.check("MPI_Barrier", 0) != nil {
		t.Error("check of MPI_SUCCESS is an error")
	}
}

func TestOpString(t *testing.T) {
	if Sum.String() != "sum" || Max.String() != "max" || Op(7).String() != "Op(7)" {
		t.Errorf("Op names: %v %v %v", Sum, Max, Op(7))
	}
}

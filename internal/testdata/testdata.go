// Package testdata finds the shared data sets that tests train and
// evaluate on (School, emotions, adult and the seed example), which live
// beside the repository in shared/data rather than in it.
package testdata

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Env names the environment variable that points at the data sets'
// folder when it is not found beside the repository.
const Env = "MTLGPU_TESTDATA"

// RequireEnv names the environment variable that, set to 1, makes a
// missing data set a test failure instead of a skip (CI sets it).
const RequireEnv = "MTLGPU_REQUIRE_DATA"

// skip skips the test, or fails it when the data sets are required.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" ("+RequireEnv+"=1)", args...)
	}
	t.Skipf(format, args...)
}

// Dir returns the folder of the shared data sets: $MTLGPU_TESTDATA, or the
// first shared/data found walking up from the test's folder (so
// ../shared/data beside the repository). It skips the test, saying why,
// when there is none, or fails it under MTLGPU_REQUIRE_DATA=1.
func Dir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(Env); dir != "" {
		return dir
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "data")
		if st, err := os.Stat(candidate); err == nil && st.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			skip(t, "shared data sets not found beside the repository; set %s to their folder", Env)
		}
		dir = parent
	}
}

// File returns the path of a file of the shared data sets, skipping (or
// failing) the test as Dir does when it is missing.
func File(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), rel)
	if _, err := os.Stat(p); err != nil {
		skip(t, "shared data set not available: %v", err)
	}
	return p
}

// ReadCSV reads a whole CSV file (gzip-compressed when its name ends in
// .gz) as encoding/csv reads it: its header, names trimmed of spaces, and
// its rows.
func ReadCSV(t testing.TB, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs[0] {
		recs[0][i] = strings.TrimSpace(recs[0][i])
	}
	return recs[0], recs[1:]
}

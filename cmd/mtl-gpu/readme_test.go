package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

// readmeExceptions are the README command lines this test does not run,
// each with the reason.
var readmeExceptions = map[string]string{
	"docker ":            "needs Docker (and, for the CUDA image, an NVIDIA GPU)",
	"make docker-":       "needs Docker",
	"make bench-compare": "needs Python with PyTorch",
	"bin/mtl-gpu serve":  "serves until stopped (the serve tests start a server, query it and stop it)",
	"mpirun ":            "needs GPUs, one per process (the data-parallel tests run mpirun on the CPU)",
	"srun ":              "needs a Slurm cluster",
}

// readmeBudget is the time every README line together may take.
const readmeBudget = 5 * time.Minute

// readmeLines returns the command lines of the README's sh code blocks,
// with continuation lines joined and trailing comments dropped.
func readmeLines(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in, cont := false, ""
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
			continue
		case strings.HasPrefix(l, "```"):
			in = false
			continue
		case !in:
			continue
		}
		l = cont + strings.TrimSpace(regexp.MustCompile(`(^|\s+)#.*$`).ReplaceAllString(l, ""))
		if strings.HasSuffix(l, `\`) {
			cont = strings.TrimSuffix(l, `\`) + " "
			continue
		}
		cont = ""
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestReadmeCommands runs every mtl-gpu command line of README.md, as
// written, in a copy of the repository root (bin/mtl-gpu is the binary
// under test, go run ./cmd/mtl-gpu runs it too, and $DATA is the shared
// data sets), in order, and requires each to succeed, all within
// readmeBudget.
func TestReadmeCommands(t *testing.T) {
	dataDir, err := filepath.Abs(testdata.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "bin"), 0o755)
	for link, target := range map[string]string{"bin/mtl-gpu": binary, "pipeline": filepath.Join(repo, "pipeline"), "README.md": filepath.Join(repo, "README.md")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	mtlLine := regexp.MustCompile(`(^|&&\s*)(bin/mtl-gpu|go run \./cmd/mtl-gpu)\b`)
	start, ran := time.Now(), 0
	for _, line := range readmeLines(t) {
		if reason := exception(line); reason != "" {
			t.Logf("not run (%s): %s", reason, line)
			continue
		}
		if !mtlLine.MatchString(line) {
			continue
		}
		// A line that does not return fails at the budget's end, not at the
		// test binary's timeout.
		ctx, cancel := context.WithDeadline(context.Background(), start.Add(readmeBudget))
		cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", strings.ReplaceAll(line, "go run ./cmd/mtl-gpu", "bin/mtl-gpu"))
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "DATA="+dataDir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		lineStart := time.Now()
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("README line failed (%v):\n%s\n%s", err, line, lastLines(out.String(), 10))
		}
		t.Logf("%.1f s: %s", time.Since(lineStart).Seconds(), line)
		ran++
	}
	if ran < 12 {
		t.Errorf("ran only %d README lines: is the README parsed right?", ran)
	}
	if d := time.Since(start); d > readmeBudget {
		t.Errorf("the README lines took %v, more than %v", d, readmeBudget)
	}
}

// exception returns why a line is not run, or "".
func exception(line string) string {
	for prefix, reason := range readmeExceptions {
		if strings.HasPrefix(line, prefix) {
			return reason
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

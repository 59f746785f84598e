package main

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"encoding/json"
	"hash/crc32"

	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// seedArgs trains the small seed example: 800 rows, 20 inputs, one
// multiclass target.
func seedArgs(t *testing.T, out string, more ...string) []string {
	return append([]string{"train", "--quiet", "--data", sharedFile(t, "seed_example/seed_train.csv"), "--task", "y:multiclass", "--out", out, "--epochs", "3"}, more...)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failsWith requires a non-zero status and an error naming want.
func failsWith(t *testing.T, what string, r result, code int, want string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Errorf("%s: status %d (want %d), stderr %q (want %q)", what, r.code, code, r.stderr, want)
	}
}

// TestOutputsNeverInputs: no command writes over its own inputs, and a
// model or log never lands on a file of another kind unless forced.
func TestOutputsNeverInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := writeFile(t, dir, "x.csv", string(readFile(t, sharedFile(t, "seed_example/seed_train.csv"))))
	orig := readFile(t, data)
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl")...))
	model := readFile(t, filepath.Join(dir, "m.mtl"))
	notes := writeFile(t, dir, "notes.txt", "keep me\n")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"train --out the data", []string{"train", "--data", "x.csv", "--task", "y:multiclass", "--out", "x.csv"}, "--out x.csv"},
		{"train --log the data", []string{"train", "--data", "x.csv", "--task", "y:multiclass", "--out", "n.mtl", "--log", "x.csv"}, "--log x.csv"},
		{"predict --out the data", []string{"predict", "--model", "m.mtl", "--data", "x.csv", "--out", "x.csv"}, "--out x.csv"},
		{"predict --out the model", []string{"predict", "--model", "m.mtl", "--data", "x.csv", "--out", "m.mtl"}, "--out m.mtl"},
		{"plot --out the log", []string{"plot", "--log", "x.csv", "--out", "x.csv"}, "--out"},
		{"export --onnx the model", []string{"export", "--model", "m.mtl", "--onnx", "m.mtl"}, "--onnx m.mtl"},
		{"train --out a file that is not a model", []string{"train", "--data", "x.csv", "--task", "y:multiclass", "--out", "notes.txt"}, "not an mtl-gpu model"},
		{"train --log a file that is not a log", []string{"train", "--data", "x.csv", "--task", "y:multiclass", "--out", "n.mtl", "--log", "notes.txt"}, "not an mtl-gpu training log"},
	} {
		r := mtlgpu(t, dir, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: status %d, %q", c.name, r.code, r.stderr)
		}
	}
	if !bytes.Equal(readFile(t, data), orig) || !bytes.Equal(readFile(t, filepath.Join(dir, "m.mtl")), model) || string(readFile(t, notes)) != "keep me\n" {
		t.Fatal("an input was changed")
	}
	ok(t, mtlgpu(t, dir, seedArgs(t, "notes.txt", "--force")...))
	if _, _, err := mtl.LoadFile(notes); err != nil {
		t.Errorf("--force did not replace the file with a model: %v", err)
	}
}

// TestLinksAndStandardOutput: --out through a symbolic link writes the
// link's target and keeps the link; predict --out - writes to standard
// output and creates no file named "-".
func TestLinksAndStandardOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "models"), 0o755)
	if err := os.Symlink("models/real.mtl", filepath.Join(dir, "link.mtl")); err != nil {
		t.Fatal(err)
	}
	ok(t, mtlgpu(t, dir, seedArgs(t, "link.mtl")...))
	if fi, err := os.Lstat(filepath.Join(dir, "link.mtl")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link.mtl is no longer a link (%v)", err)
	}
	if _, _, err := mtl.LoadFile(filepath.Join(dir, "models", "real.mtl")); err != nil {
		t.Fatalf("the link's target: %v", err)
	}
	test := sharedFile(t, "seed_example/seed_test.csv")
	r := mtlgpu(t, dir, "predict", "--model", "link.mtl", "--data", test, "--out", "-", "--keep", "y")
	ok(t, r)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 201 || !strings.HasPrefix(lines[0], "y,y:pred,y:p(") {
		t.Errorf("standard output: %d lines, header %q", len(lines), lines[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); err == nil {
		t.Error("predict --out - created a file named -")
	}
}

// TestSecondTrainerFails: while one trainer writes a model file, a second
// one with the same --out fails at once, naming the first one's pid.
func TestSecondTrainerFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := exec.Command(binary, seedArgs(t, "m.mtl", "--epochs", "100000", "--patience", "0")...)
	long.Dir = dir
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { long.Process.Kill(); long.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "m.mtl")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first trainer never saved")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	r := mtlgpu(t, dir, seedArgs(t, "m.mtl")...)
	failsWith(t, "second trainer", r, 1, "pid "+strconv.Itoa(long.Process.Pid))
	if time.Since(start) > 20*time.Second {
		t.Errorf("the second trainer took %v to fail", time.Since(start))
	}
	// Killed, the first leaves its lock file, which blocks nobody.
	long.Process.Signal(syscall.SIGKILL)
	long.Wait()
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl")...))
}

// TestModesAndOrphans: outputs get the mode os.Create gives under the
// umask, a replaced file keeps its mode, and a temporary file left by a
// killed writer goes at the next save.
func TestModesAndOrphans(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := strings.Join(seedArgs(t, "m.mtl"), " ")
	r := mtlgpu(t, dir, "--version") // the binary runs here
	ok(t, r)
	sh := func(umask string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", "umask "+umask+" && exec "+binary+" "+args)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	sh("022")
	if fi, _ := os.Stat(filepath.Join(dir, "m.mtl")); fi.Mode().Perm() != 0o644 {
		t.Errorf("model has mode %v under umask 022, want 0644", fi.Mode().Perm())
	}
	os.Chmod(filepath.Join(dir, "m.mtl"), 0o640)
	orphan := writeFile(t, dir, ".m.mtl.tmp-123456", "partial model")
	sh("022")
	if fi, _ := os.Stat(filepath.Join(dir, "m.mtl")); fi.Mode().Perm() != 0o640 {
		t.Errorf("replaced model has mode %v, was 0640", fi.Mode().Perm())
	}
	if _, err := os.Stat(orphan); err == nil {
		t.Error("the orphaned temporary file is still there")
	}
}

// craftModel rewrites the header of a model file with edit and fixes its
// checksum.
func craftModel(t *testing.T, file []byte, edit func(h map[string]any)) []byte {
	t.Helper()
	hlen := int(bin.LittleEndian.Uint32(file[12:]))
	var h map[string]any
	if err := json.Unmarshal(file[16:16+hlen], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	head, _ := json.Marshal(h)
	out := append([]byte{}, file[:12]...)
	out = bin.LittleEndian.AppendUint32(out, uint32(len(head)))
	out = append(out, head...)
	out = append(out, file[16+hlen:len(file)-4]...)
	return bin.LittleEndian.AppendUint32(out, crc32.Checksum(out, crc32.MakeTable(crc32.Castagnoli)))
}

// TestCraftedModelRefused: a model file with a valid checksum and an
// impossible header is refused by --resume with an error, not a panic.
func TestCraftedModelRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl")...))
	good := readFile(t, filepath.Join(dir, "m.mtl"))
	for name, edit := range map[string]func(map[string]any){
		"epoch_step -3": func(h map[string]any) { h["state"].(map[string]any)["epoch_step"] = -3 },
		"epoch 1e9":     func(h map[string]any) { h["state"].(map[string]any)["epoch"] = 1e9 },
		"no optimiser state": func(h map[string]any) {
			h["config"].(map[string]any)["optimizer"] = "sgd"
		},
	} {
		p := filepath.Join(dir, "crafted.mtl")
		os.WriteFile(p, craftModel(t, good, edit), 0o644)
		r := mtlgpu(t, dir, "train", "--resume", "crafted.mtl")
		if r.code != 1 || strings.Contains(r.stderr, "goroutine") || !strings.Contains(r.stderr, "not a valid mtl-gpu model file") {
			t.Errorf("%s: status %d, %q", name, r.code, r.stderr)
		}
	}
}

// TestResumeDemoCLI: the demonstration resumed with none of its options
// trains on the same rows (not its held-out quarter), says which options
// it ignores and applies --epochs.
func TestResumeDemoCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := mtlgpu(t, dir, "train", "--epochs", "2", "--patience", "0")
	ok(t, first)
	r := mtlgpu(t, dir, "train", "--resume", "school.mtl", "--epochs", "3", "--lr", "0.1", "--batch", "7")
	ok(t, r)
	rows := regexp.MustCompile(`msg=training .*rows=(\d+) validation_rows=(\d+)`)
	a, b := rows.FindStringSubmatch(first.stderr), rows.FindStringSubmatch(r.stderr)
	if a == nil || b == nil || a[1] != b[1] || a[2] != b[2] {
		t.Errorf("rows before %v, after resuming %v", a, b)
	}
	if !strings.Contains(r.stderr, "--batch, --lr ignored") || !strings.Contains(r.stdout, "held-out explained variance") || !strings.Contains(r.stdout, "3 epochs") {
		t.Errorf("resumed demonstration:\n%s\n%s", r.stdout, r.stderr)
	}
}

// TestNumericFlagsValidated: every number is checked before anything runs,
// naming its flag.
func TestNumericFlagsValidated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dwa-temperature", "0", "--weighting", "dwa"}, "--dwa-temperature"},
		{[]string{"--dwa-temperature", "NaN"}, "--dwa-temperature"},
		{[]string{"--gradnorm-alpha", "NaN"}, "--gradnorm-alpha"},
		{[]string{"--val-split", "NaN"}, "--val-split"},
		{[]string{"--momentum", "NaN"}, "--momentum"},
		{[]string{"--lr", "Inf"}, "--lr"},
		{[]string{"--threads", "-4"}, "--threads"},
		{[]string{"--hidden", "0"}, "--hidden"},
		{[]string{"--ignore", "y"}, "--ignore"},
		{[]string{"--epochs", "-1"}, "--epochs"},
		{[]string{"--steps", "-5"}, "--steps"},
		{[]string{"--steps", "100", "--epochs", "3"}, "--steps"},
		{[]string{"--val-split", "half"}, "--val-split"},
		{[]string{"--cv", "some"}, "--cv"},
	} {
		r := mtlgpu(t, dir, seedArgs(t, "m.mtl", c.args...)...)
		failsWith(t, strings.Join(c.args, " "), r, 2, c.want)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.mtl")); err == nil {
		t.Error("a model was written")
	}
}

// TestDivergenceAnyOptimizer: AdamW at learning rate 100 used to exit 0
// and replace the model with one predicting the majority class. It is a
// diverged run: status 3, advice, the earlier model untouched unless
// --force.
func TestDivergenceAnyOptimizer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl", "--epochs", "5")...))
	before := readFile(t, filepath.Join(dir, "m.mtl"))
	r := mtlgpu(t, dir, seedArgs(t, "m.mtl", "--epochs", "5", "--optimizer", "AdamW", "--lr", "100")...)
	failsWith(t, "AdamW at lr 100", r, 3, "lower learning rate")
	if !strings.Contains(r.stderr, "constant prediction") || !bytes.Equal(before, readFile(t, filepath.Join(dir, "m.mtl"))) {
		t.Errorf("the diverged run replaced the model, or did not say why: %q", r.stderr)
	}
	r = mtlgpu(t, dir, seedArgs(t, "m.mtl", "--epochs", "5", "--lr", "100", "--force")...)
	failsWith(t, "forced", r, 3, "saved to m.mtl all the same")
	if bytes.Equal(before, readFile(t, filepath.Join(dir, "m.mtl"))) {
		t.Error("--force did not replace the model")
	}
}

// TestInterruptWhileChoosingWidth: SIGINT during --hidden auto saves the
// best candidate so far and exits 130 with the advice to resume.
func TestInterruptWhileChoosingWidth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(binary, "train", "--verbose", "--data", sharedFile(t, "adult/adult_train.csv.gz"), "--task", "income_gt_50k:binary",
		"--out", "m.mtl", "--hidden", "auto", "--epochs", "40", "--patience", "0", "--device", "cpu")
	cmd.Dir = dir
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "msg=device") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted search: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "best candidate so far") || !strings.Contains(stderr.String(), "--resume m.mtl") {
		t.Errorf("no word of the saved candidate: %s", stderr.String())
	}
	if _, _, err := mtl.LoadFile(filepath.Join(dir, "m.mtl")); err != nil {
		t.Error(err)
	}
}

// TestQuietKeepsWarnings: --quiet silences progress and information, not
// warnings about the data.
func TestQuietKeepsWarnings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,x,n,g,y\n")
	for i := range 200 {
		n := strconv.Itoa(i % 7)
		if i == 17 {
			n = "seven" // one bad cell makes the column categorical
		}
		b.WriteString(strconv.Itoa(1000+i) + "x," + strconv.Itoa(i%5) + "," + n + ",s" + strconv.Itoa(i%3) + "," + strconv.Itoa(i%2) + "\n")
	}
	data := writeFile(t, dir, "d.csv", b.String())
	r := mtlgpu(t, dir, "train", "--quiet", "--data", data, "--task", "y:binary", "--group-column", "g", "--out", "m.mtl", "--epochs", "20", "--force")
	if !strings.Contains(r.stderr, "level=WARN") || !strings.Contains(r.stderr, "seven") {
		t.Errorf("--quiet hid the warnings: %q", r.stderr)
	}
	if strings.Contains(r.stderr, "level=INFO") || strings.Contains(r.stderr, "auto chose") {
		t.Errorf("--quiet printed information: %q", r.stderr)
	}
	// Unseen groups and unseen identifiers at eval are warnings too.
	test := writeFile(t, dir, "t.csv", "id,x,n,g,y\n9000x,1,2,s9,0\n9001x,2,3,s1,1\n")
	r = mtlgpu(t, dir, "eval", "--quiet", "--model", "m.mtl", "--data", test)
	for _, want := range []string{"groups unseen in training", `column \"id\": 2 rows have values unseen`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("eval --quiet hid the warning %q: %q", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("eval --quiet printed information: %q", r.stderr)
	}
}

// TestDataOptionsNeedData: options that describe columns without --data
// are an error, not a silent run on the built-in data.
func TestDataOptionsNeedData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--task", "y:binary", "--out", "m.mtl"},
		{"--group-column", "g"},
		{"--ignore", "x"},
		{"--categorical", "x"},
		{"--impute", "mean"},
	} {
		r := mtlgpu(t, dir, append([]string{"train"}, args...)...)
		failsWith(t, strings.Join(args, " "), r, 2, "--data")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

// TestDidYouMean: unknown commands, flags, values and columns are met with
// the nearest valid one, enum values are read in any case, and a bad
// --blas is a usage error.
func TestDidYouMean(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trian"}, "did you mean train?"},
		{[]string{"train", "--epoch", "3"}, "did you mean --epochs?"},
		{[]string{"train", "--optimizer", "adamm"}, "did you mean adam?"},
		{[]string{"train", "--blas", "mkl"}, "--blas"},
		{seedArgs(t, "m.mtl", "--task", "yy:multiclass"), `did you mean "y"?`},
		{[]string{"train", "--weighting", "uncertainity"}, "did you mean uncertainty?"},
		{[]string{"train", "--numeric", "pel"}, "did you mean ple?"},
	} {
		r := mtlgpu(t, dir, c.args...)
		failsWith(t, strings.Join(c.args, " "), r, 2, c.want)
		if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: error of several lines: %q", c.args, r.stderr)
		}
	}
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl", "--optimizer", "Adam", "--schedule", "Cosine", "--weighting", "Equal", "--activation", "ReLU", "--blas", "GoNum")...))
}

// TestEvalUnseenClass: eval on a file with a class the model never saw
// scores the file, counts those rows as errors in accuracy and warns.
func TestEvalUnseenClass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl", "--epochs", "10")...))
	test := string(readFile(t, sharedFile(t, "seed_example/seed_test.csv")))
	lines := strings.Split(strings.TrimSpace(test), "\n")
	for i := 1; i <= 5; i++ {
		lines[i] = lines[i][:strings.LastIndex(lines[i], ",")] + ",new-class"
	}
	p := writeFile(t, dir, "unseen.csv", strings.Join(lines, "\n")+"\n")
	r := mtlgpu(t, dir, "eval", "--model", "m.mtl", "--data", p, "--json")
	ok(t, r)
	var rep struct {
		Tasks map[string]struct {
			N      int     `json:"n"`
			Acc    float64 `json:"accuracy"`
			Unseen int     `json:"unseen_class_rows"`
		} `json:"tasks"`
	}
	json.Unmarshal([]byte(r.stdout), &rep)
	if y := rep.Tasks["y"]; y.N != 200 || y.Unseen != 5 || y.Acc > 195.0/200 {
		t.Errorf("y: %+v", y)
	}
	if !strings.Contains(r.stderr, "5 rows have classes unseen in training") {
		t.Errorf("no warning with the count: %q", r.stderr)
	}
}

// TestPlotWritesWhatItSays: plot writes the format of the extension and
// says what it wrote.
func TestPlotWritesWhatItSays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, seedArgs(t, "m.mtl", "--log", "run.jsonl", "--epochs", "6")...))
	for ext, magic := range map[string]string{"svg": "<?xml", "pdf": "%PDF-", "png": "\x89PNG"} {
		r := mtlgpu(t, dir, "plot", "--log", "run.jsonl", "--out", "run."+ext)
		ok(t, r)
		if !bytes.HasPrefix(readFile(t, filepath.Join(dir, "run."+ext)), []byte(magic)) {
			t.Errorf("run.%s is not %s", ext, ext)
		}
		if !strings.Contains(r.stdout, "wrote run."+ext) || !strings.Contains(r.stdout, "validation metrics") || !strings.Contains(r.stdout, "6 epochs") {
			t.Errorf("plot said %q", r.stdout)
		}
	}
	svg := string(readFile(t, filepath.Join(dir, "run.svg")))
	if !regexp.MustCompile(`best epoch \d`).MatchString(svg) {
		t.Error("the SVG does not mark the best epoch")
	}
	failsWith(t, "plot to .gif", mtlgpu(t, dir, "plot", "--log", "run.jsonl", "--out", "run.gif"), 2, ".gif")
}

// TestBasics: --version and version, info, predict --keep of a target,
// task order following --task, bench profiling only when asked.
func TestBasics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := mtlgpu(t, dir, args...)
		ok(t, r)
		if !regexp.MustCompile(`^mtl-gpu \S+.*go1\.\d+`).MatchString(r.stdout) {
			t.Errorf("%v: %q", args, r.stdout)
		}
	}
	emo := sharedFile(t, "emotions/emotions_train.csv")
	ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", emo, "--out", "e.mtl", "--epochs", "5", "--task", "sad-lonely:binary", "--task", "amazed-suprised:binary"))
	r := mtlgpu(t, dir, "info", "e.mtl")
	ok(t, r)
	for _, want := range []string{"sad-lonely", "binary", "architecture", "training", "5 of 5 epochs", "metrics", "emotions_train.csv"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	if i, j := strings.Index(r.stdout, "sad-lonely"), strings.Index(r.stdout, "amazed-suprised"); i > j {
		t.Error("info lists the tasks out of --task order")
	}
	r = mtlgpu(t, dir, "info", "e.mtl", "--json")
	ok(t, r)
	var d struct {
		Tasks []struct{ Name string } `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.Tasks) != 2 || d.Tasks[0].Name != "sad-lonely" {
		t.Errorf("info --json: %v, %s", err, r.stdout)
	}
	r = mtlgpu(t, dir, "predict", "--model", "e.mtl", "--data", emo, "--keep", "sad-lonely", "--out", "-")
	ok(t, r)
	header, _, _ := strings.Cut(r.stdout, "\n")
	if header != "sad-lonely,sad-lonely:pred,sad-lonely:p(0),sad-lonely:p(1),amazed-suprised,amazed-suprised:p(0),amazed-suprised:p(1)" {
		t.Errorf("predictions header %q", header)
	}
	r = mtlgpu(t, dir, "bench", "--help")
	ok(t, r)
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "--profile") && strings.Contains(line, "default true") {
			t.Errorf("bench profiles by default: %q", line)
		}
	}
}

// TestProgressOnTerminal runs training with its standard error on a
// pseudo-terminal: epoch lines (losses, the task's metric, time) appear
// from the first epoch on, above a live bar, at most one a second, with
// fast epochs summarised and every epoch accounted for; the run ends
// saying whether its best epoch was the last.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	master, term, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	run := func(args ...string) (string, time.Duration) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir()
		cmd.Stderr = term
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				out.Write(buf[:n])
				// The last line on standard error says where the best
				// epoch was.
				if err != nil || regexp.MustCompile(`(best epoch \d+ of \d+|still improving.*)\r?\n`).Match(out.Bytes()) {
					return
				}
			}
		}()
		cmd.Wait()
		elapsed := time.Since(start)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("no end of output: %q", out.String())
		}
		return out.String(), elapsed
	}
	data := sharedFile(t, "seed_example/seed_train.csv")
	out, elapsed := run("train", "--data", data, "--task", "y:multiclass", "--out", "m.mtl", "--epochs", "400", "--patience", "0", "--cv", "0", "--batch", "128")
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(out, "\r", "\n")))
	for sc.Scan() {
		if l := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "\x1b[K"); l != "" {
			lines = append(lines, l)
		}
	}
	epochRE := regexp.MustCompile(`^epochs? (\d+)(?:–(\d+))?/400  train [0-9.→]+  val [0-9.→]+.*  y accuracy [0-9.]+  [0-9.]+ s$`)
	next, epochLines, bar := 1, 0, false
	for _, l := range lines {
		if strings.Contains(l, "steps/s") {
			bar = true
		}
		m := epochRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		epochLines++
		from, _ := strconv.Atoi(m[1])
		to := from
		if m[2] != "" {
			to, _ = strconv.Atoi(m[2])
		}
		if from != next || to < from {
			t.Errorf("epoch line %q does not follow epoch %d", l, next-1)
		}
		next = to + 1
	}
	if next != 401 {
		t.Errorf("epoch lines cover epochs 1 to %d of 400:\n%s", next-1, strings.Join(lines, "\n"))
	}
	if !bar {
		t.Error("no live bar")
	}
	if limit := int(elapsed.Seconds()) + 2; epochLines > limit || epochLines < 2 {
		t.Errorf("%d epoch lines in %v: want at least 2 and at most one a second", epochLines, elapsed)
	}
	if !regexp.MustCompile(`best epoch \d+ of 400`).MatchString(out) && !strings.Contains(out, "still improving") {
		t.Errorf("the run does not say where its best epoch was:\n%s", out)
	}
	out, _ = run("train", "--data", data, "--task", "y:multiclass", "--out", "m.mtl", "--epochs", "2", "--lr", "0.0005")
	if !strings.Contains(out, "still improving, consider a larger budget (--epochs, now 2)") {
		t.Errorf("a run still improving at its end does not say so:\n%s", out)
	}
}

// TestEvalHelpDocumentsMetrics: eval --help names every metric eval
// reports, per task and overall, and says how the overall block averages.
func TestEvalHelpDocumentsMetrics(t *testing.T) {
	t.Parallel()
	r := mtlgpu(t, t.TempDir(), "eval", "--help")
	ok(t, r)
	for _, want := range []string{
		"accuracy", "f1", "auc", "log_loss", "macro_f1", "rmse", "mae", "r2", "explained_variance",
		"The positive class is the second", "unweighted mean", "binary_mean_auc", "multiclass_mean_macro_f1",
		"regression_mean_explained_variance", "Rows are never pooled across", "unseen_class_rows",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("eval --help does not say %q", want)
		}
	}
}

package mtl_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/internal/mpi"
	"github.com/mtl-gpu/mtl-gpu/internal/mpitest"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// The data-parallel tests start this test binary as the processes of an
// Open MPI job (see package mpitest); each process runs one mode of
// runRank, compares what it trained with a run alone that it makes itself
// from the same data, and prints "rank R ok ..." lines, or "rank R FAIL"
// lines that the test reports.

// rankMode is the variable that makes the test binary a process of a
// data-parallel job, in the mode it names.
const rankMode = "MTLGPU_MTL_RANK"

// rankDir is the variable naming the folder a job's processes save to.
const rankDir = "MTLGPU_MTL_DIR"

func TestMain(m *testing.M) {
	if mode := os.Getenv(rankMode); mode != "" {
		os.Exit(runRank(mode))
	}
	os.Exit(m.Run())
}

// distCase is one model and weighting method of the data-parallel tests.
type distCase struct {
	problem mtltest.Problem
	method  mtl.Method
	// dense keeps mtltest's fifth of missing labels instead of 90%.
	dense bool
}

func (c distCase) name() string {
	if c.dense {
		return c.problem.Name + "/" + string(c.method) + "/dense"
	}
	return c.problem.Name + "/" + string(c.method)
}

// distCases are mtltest's problems (every body, task type and family,
// embedding tables, members, dropout) crossed with every
// weighting method, and the models with embedding tables again with most
// labels present: with 90% missing, most rows' input gradients are zero,
// and an error in how the processes lay out the tables' gradients would
// seldom show.
func distCases() []distCase {
	var cases []distCase
	for _, p := range mtltest.Problems() {
		for _, m := range []mtl.Method{mtl.Equal, mtl.Uncertainty, mtl.DWA, mtl.GradNorm, mtl.PCGrad, mtl.MGDA} {
			cases = append(cases, distCase{problem: p, method: m})
		}
		if len(p.Spec.Embeddings) > 0 {
			cases = append(cases, distCase{problem: p, method: mtl.Equal, dense: true}, distCase{problem: p, method: mtl.PCGrad, dense: true})
		}
	}
	return cases
}

// trainCases are the cases trained for several epochs: a plain method, one
// that reads the losses and the gradient methods, over bodies with and
// without embedding tables and members.
func trainCases() []distCase {
	var cases []distCase
	for _, c := range distCases() {
		switch c.name() {
		case "multiclass/equal", "family/uncertainty", "mmoe/pcgrad", "members/embeddings/mgda", "binary/gradnorm", "dropout/smoothing/dwa":
			cases = append(cases, c)
		}
	}
	return cases
}

// distRows is the training set's size and distBatch the global batch: 5
// full batches and a last of 2 rows, which three processes share as 0, 1
// and 1 rows, and no batch splits evenly over 2 or 3 processes.
const distRows, distBatch = 197, 39

// distData is mtltest's data with 90% of the labels missing (unless
// dense) and, for a
// model of several members, each member using a random four fifths of the
// rows.
func distData(spec mtl.Spec, n int, seed uint64, dense bool) *mtl.Dataset {
	d := mtltest.Data(spec, n, seed)
	rng := rand.New(rand.NewPCG(seed, 90))
	for _, y := range d.Labels {
		for i := range y {
			if !dense && rng.Float64() < 0.875 {
				y[i] = float32(math.NaN())
			}
		}
	}
	if spec.Members > 1 {
		d.Members = make([]uint64, n)
		for i := range d.Members {
			for m := range spec.Members {
				if rng.Float64() < 0.8 {
					d.Members[i] |= 1 << m
				}
			}
		}
	}
	return d
}

func distConfig(c distCase, epochs int) mtl.Config {
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.Patience = epochs, distBatch, 0
	cfg.LabelSmoothing = 0.1
	cfg.Dropout, cfg.MemberSettings = c.problem.Dropout, c.problem.MemberSettings
	cfg.Weighting.Method = c.method
	return cfg
}

// rank is one process of a job.
type rank struct {
	w    *mpi.World
	b    backend.Backend
	fail []string
}

func (r *rank) failf(format string, a ...any) {
	r.fail = append(r.fail, fmt.Sprintf(format, a...))
}

// trainer makes a trainer for case c, data-parallel over the world when
// distributed, resuming ckpt when not nil.
func (r *rank) trainer(c distCase, cfg mtl.Config, val bool, ckpt *mtl.Checkpoint, distributed bool) (*mtl.Trainer, error) {
	train := distData(c.problem.Spec, distRows, 1, c.dense)
	var v *mtl.Dataset
	if val {
		v = distData(c.problem.Spec, 100, 2, c.dense)
	}
	model := (*mtl.Model)(nil)
	if ckpt != nil {
		model = ckpt.Model
	} else {
		var err error
		if model, err = mtl.NewModel(c.problem.Spec, train, cfg.Seed); err != nil {
			return nil, err
		}
	}
	tr, err := mtl.NewTrainer(r.b, model, cfg, train, v, ckpt)
	if err != nil {
		return nil, err
	}
	if distributed {
		if err := tr.Distribute(r.w); err != nil {
			tr.Close()
			return nil, err
		}
	}
	return tr, nil
}

// relDiff is ‖a−b‖/‖b‖ (0 when both are 0).
func relDiff(a, b []float32) float64 {
	var d, n float64
	for i := range b {
		d += (float64(a[i]) - float64(b[i])) * (float64(a[i]) - float64(b[i]))
		n += float64(b[i]) * float64(b[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// gradTol bounds relDiff between a gradient of the job and of one process.
const gradTol = 1e-5

// checkGradients compares, for every case, each step's all-reduced
// gradient (with the gradient methods' combination) and tasks' gradients
// with those of one process alone, over the first epoch.
func (r *rank) checkGradients() {
	for _, c := range distCases() {
		cfg := distConfig(c, 1)
		run := func(distributed bool) (g, tg [][]float32, sc [][]float64) {
			tr, err := r.trainer(c, cfg, false, nil, distributed)
			if err != nil {
				r.failf("%s: %v", c.name(), err)
				return
			}
			defer tr.Close()
			g, tg, sc, err = tr.EpochGradients()
			if err != nil {
				r.failf("%s: %v", c.name(), err)
			}
			return
		}
		g1, t1, _ := run(false)
		gn, tn, scales := run(true)
		if len(gn) != len(g1) || len(tn) != len(t1) {
			r.failf("%s: %d steps (%d with task gradients), alone %d (%d)", c.name(), len(gn), len(tn), len(g1), len(t1))
			continue
		}
		worst := 0.0
		for s := range g1 {
			worst = max(worst, relDiff(gn[s], g1[s]))
			if s < len(t1) {
				worst = max(worst, relDiff(tn[s], t1[s]))
			}
		}
		if !(worst <= gradTol) {
			r.failf("%s: gradients differ from one process's by %.3g (relative), more than %g", c.name(), worst, gradTol)
		}
		// The first step's share of each task's labelled rows, for the test
		// to check that the processes' label counts differ.
		fmt.Printf("rank %d ok %s worst %.3g share %s\n", r.w.Rank(), c.name(), worst, floats(scales[0]))
	}
}

func floats(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.FormatFloat(x, 'f', 4, 64))
	}
	return strings.Join(s, ",")
}

// checkTraining trains each training case for 5 epochs with validation
// rows, data-parallel and alone, compares the losses, and prints a hash of
// the final parameters and optimiser state.
func (r *rank) checkTraining() {
	for _, c := range trainCases() {
		cfg := distConfig(c, 5)
		alone := r.fit(c, cfg, nil, false)
		got := r.fit(c, cfg, nil, true)
		if alone == nil || got == nil {
			continue
		}
		for _, d := range mtltest.LossDiffs(c.problem.Spec, got.epochs, alone.epochs) {
			r.failf("%s: %s", c.name(), d)
		}
		fmt.Printf("rank %d ok %s hash %016x\n", r.w.Rank(), c.name(), got.hash)
	}
}

// fitted is a finished run: its epochs, checkpoint and the hash of its
// parameters and optimiser state.
type fitted struct {
	epochs []mtl.EpochStats
	ckpt   *mtl.Checkpoint
	hash   uint64
}

// errEnough stops a run after the epochs a test wants.
var errEnough = errors.New("enough epochs")

// fit trains case c to cfg.Epochs, from ckpt when not nil.
func (r *rank) fit(c distCase, cfg mtl.Config, ckpt *mtl.Checkpoint, distributed bool) *fitted {
	return r.fitUntil(c, cfg, ckpt, distributed, cfg.Epochs)
}

// fitUntil is fit stopped after the given number of epochs.
func (r *rank) fitUntil(c distCase, cfg mtl.Config, ckpt *mtl.Checkpoint, distributed bool, epochs int) *fitted {
	tr, err := r.trainer(c, cfg, true, ckpt, distributed)
	if err != nil {
		r.failf("%s: %v", c.name(), err)
		return nil
	}
	defer tr.Close()
	f := &fitted{}
	err = tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error {
		f.epochs = append(f.epochs, s)
		if s.Epoch == epochs {
			return errEnough
		}
		return nil
	}})
	if err != nil && !errors.Is(err, errEnough) {
		r.failf("%s: %v", c.name(), err)
		return nil
	}
	if f.ckpt, err = tr.Checkpoint(); err != nil {
		r.failf("%s: %v", c.name(), err)
		return nil
	}
	f.hash = stateHash(f.ckpt)
	return f
}

// stateHash hashes a checkpoint's current parameters and optimiser state.
func stateHash(ck *mtl.Checkpoint) uint64 {
	h := fnv.New64a()
	params := ck.Current
	if params == nil {
		params = ck.Model.Params
	}
	for _, v := range append([][]float32{params}, ck.Opt...) {
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)))
	}
	return h.Sum64()
}

// resumeEpochs is how many epochs the first job of the resume test trains
// before the second resumes to 5.
const resumeEpochs = 2

// saveForResume trains each training case for the first resumeEpochs of
// its 5 epochs; rank 0 saves its checkpoint.
func (r *rank) saveForResume(dir string) {
	for _, c := range trainCases() {
		f := r.fitUntil(c, distConfig(c, 5), nil, true, resumeEpochs)
		if f == nil || r.w.Rank() != 0 {
			continue
		}
		if err := mtl.SaveFile(filepath.Join(dir, caseFile(c)), f.ckpt, nil); err != nil {
			r.failf("%s: %v", c.name(), err)
		}
	}
	fmt.Printf("rank %d ok saved\n", r.w.Rank())
}

func caseFile(c distCase) string { return strings.ReplaceAll(c.name(), "/", "-") + ".mtl" }

// resume continues each saved case to 5 epochs and compares the epochs it
// trains with those of a run alone from the start.
func (r *rank) resume(dir string) {
	for _, c := range trainCases() {
		ck, _, err := mtl.LoadFile(filepath.Join(dir, caseFile(c)))
		if err != nil {
			r.failf("%s: %v", c.name(), err)
			continue
		}
		cfg := distConfig(c, 5)
		alone := r.fit(c, cfg, nil, false)
		got := r.fit(c, cfg, ck, true)
		if alone == nil || got == nil {
			continue
		}
		for _, d := range mtltest.LossDiffs(c.problem.Spec, got.epochs, alone.epochs[resumeEpochs:]) {
			r.failf("%s resumed on %d processes: %s", c.name(), r.w.Size(), d)
		}
		fmt.Printf("rank %d ok %s resumed\n", r.w.Rank(), c.name())
	}
}

// stopCase is the case the SIGTERM and stopped-process tests train.
func stopCase() distCase { return trainCases()[0] }

// trainUntilStopped trains until SIGTERM (mode "sigterm") or until an
// all-reduce times out because rank 1 stopped itself with SIGSTOP in its
// third epoch (mode "sigstop"). Rank 0 saves the model at every epoch's
// end and where the run stops.
func (r *rank) trainUntilStopped(mode, dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c := stopCase()
	cfg := distConfig(c, 100000)
	tr, err := r.trainer(c, cfg, true, nil, true)
	if err != nil {
		r.failf("%v", err)
		return 1
	}
	defer tr.Close()
	out := filepath.Join(dir, "stopped.mtl")
	save := func() error {
		if r.w.Rank() != 0 {
			return nil
		}
		ck, err := tr.Checkpoint()
		if err != nil {
			return err
		}
		return mtl.SaveFile(out, ck, nil)
	}
	if mode == "sigstop" {
		r.w.SetTimeout(2 * time.Second)
		if err := r.w.StartHeartbeat(200 * time.Millisecond); err != nil {
			r.failf("%v", err)
			return 1
		}
	}
	fmt.Printf("rank %d ok training\n", r.w.Rank())
	err = tr.Fit(ctx, mtl.Hooks{
		Step: func(epoch, step, steps int) {
			if mode == "sigstop" && r.w.Rank() == 1 && epoch == 2 && step == 3 {
				fmt.Printf("rank 1 ok stopping at %d\n", time.Now().UnixMilli())
				_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			}
			if mode == "sigterm" {
				time.Sleep(2 * time.Millisecond) // a run that outlasts the signal
			}
		},
		Epoch: func(mtl.EpochStats) error { return save() },
	})
	st := tr.State()
	var timeout *mpi.TimeoutError
	switch {
	case errors.Is(err, context.Canceled):
		if err := save(); err != nil {
			r.failf("%v", err)
			return 1
		}
		fmt.Printf("rank %d ok stopped at epoch %d step %d\n", r.w.Rank(), st.Epoch, st.EpochStep)
		return 0
	case errors.As(err, &timeout):
		fmt.Printf("rank %d ok timed out: %v\n", r.w.Rank(), err)
		return 3
	}
	r.failf("training ended with %v, want a stop", err)
	return 1
}

// runRank is one process of a job: it prints its findings and returns
// the exit status.
func runRank(mode string) int {
	w, _, err := mtltest.StartRank()
	if err != nil {
		return 1
	}
	b, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
	if err != nil {
		fmt.Println("rank ? FAIL", err)
		return 1
	}
	r := &rank{w: w, b: b}
	dir := os.Getenv(rankDir)
	code := 0
	switch mode {
	case "gradients":
		r.checkGradients()
	case "training":
		r.checkTraining()
	case "save":
		r.saveForResume(dir)
	case "resume":
		r.resume(dir)
	case "sigterm", "sigstop":
		code = r.trainUntilStopped(mode, dir)
	default:
		r.failf("unknown mode %q", mode)
	}
	for _, f := range r.fail {
		fmt.Printf("rank %d FAIL %s\n", w.Rank(), f)
	}
	if len(r.fail) > 0 {
		_ = w.Abort(1)
		return 1
	}
	if code != 0 {
		return code // a stopped job: MPI cannot finish
	}
	if err := w.Finalize(); err != nil {
		fmt.Printf("rank %d FAIL finalize: %v\n", w.Rank(), err)
		return 1
	}
	return 0
}

// runJob runs mode on procs processes and returns the output, failing the
// test on any FAIL line or a failed mpirun.
func runJob(t *testing.T, mpirun string, procs int, mode, dir string) string {
	t.Helper()
	out, err := mpitest.Job{Procs: procs, Env: []string{rankMode + "=" + mode, rankDir + "=" + dir}}.Run(t, mpirun)
	for _, f := range mpitest.Lines(out, "rank") {
		if strings.Contains(f, " FAIL ") {
			t.Error(f)
		}
	}
	if err != nil {
		t.Fatalf("mpirun -np %d (%s): %v; output:\n%s", procs, mode, err, out)
	}
	return out
}

// mpirunOrSkip returns mpirun's path, having checked that Open MPI loads.
func mpirunOrSkip(t *testing.T) string {
	t.Helper()
	mpirun := mpitest.Mpirun(t)
	if _, err := mpi.Open(); err != nil {
		mpitest.Skip(t, fmt.Sprintf("Open MPI cannot be loaded: %v", err))
	}
	return mpirun
}

// TestDistributedGradients checks, on 2 and 3 processes, that every step's
// all-reduced gradient, the gradient methods' tasks' gradients and their
// combination match one process's within 1e-5 (relative), for every body
// and weighting method, with 90% of the labels missing and batches that
// neither process count divides; and that the processes' shares of the
// labelled rows differ.
func TestDistributedGradients(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	for _, n := range []int{2, 3} {
		out := runJob(t, mpirun, n, "gradients", t.TempDir())
		cases := distCases()
		for _, c := range cases {
			shares := map[string]bool{}
			for r := range n {
				lines := mpitest.Lines(out, fmt.Sprintf("rank %d ok %s worst", r, c.name()))
				if len(lines) != 1 {
					t.Errorf("%d processes: rank %d did not report %s", n, r, c.name())
					continue
				}
				shares[lines[0][strings.Index(lines[0], "share"):]] = true
			}
			if len(shares) < 2 {
				t.Errorf("%d processes, %s: every process held the same share of each task's labels; the test needs unequal counts", n, c.name())
			}
		}
	}
}

// TestDistributedTraining trains 5 epochs on 2 and 3 processes: every
// epoch's losses follow one process's within mtltest's tolerance, and a
// second run on 3 processes ends with bit-identical parameters and
// optimiser state.
func TestDistributedTraining(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	hashes := func(out string) []string {
		var h []string
		for _, line := range mpitest.Lines(out, "rank 0 ok") {
			if strings.Contains(line, " hash ") {
				h = append(h, line)
			}
		}
		return h
	}
	runJob(t, mpirun, 2, "training", t.TempDir())
	first := hashes(runJob(t, mpirun, 3, "training", t.TempDir()))
	again := hashes(runJob(t, mpirun, 3, "training", t.TempDir()))
	if len(first) != len(trainCases()) || !slices.Equal(first, again) {
		t.Errorf("two runs on 3 processes ended differently:\n%s\n---\n%s", strings.Join(first, "\n"), strings.Join(again, "\n"))
	}
}

// TestDistributedResume trains 2 epochs on 2 processes, resumes to 5 on 3
// processes and on one process alone, and compares the resumed epochs with
// a run alone from the start.
func TestDistributedResume(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	runJob(t, mpirun, 2, "save", dir)
	out := runJob(t, mpirun, 3, "resume", dir)
	if got := len(mpitest.Lines(out, "rank 0 ok")); got != len(trainCases()) {
		t.Errorf("%d cases resumed on 3 processes, want %d; output:\n%s", got, len(trainCases()), out)
	}
	b, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	r := &rank{b: b}
	for _, c := range trainCases() {
		ck, _, err := mtl.LoadFile(filepath.Join(dir, caseFile(c)))
		if err != nil {
			t.Fatal(err)
		}
		cfg := distConfig(c, 5)
		alone, got := r.fit(c, cfg, nil, false), r.fit(c, cfg, ck, false)
		if alone == nil || got == nil {
			t.Fatalf("%s: %v", c.name(), r.fail)
		}
		for _, d := range mtltest.LossDiffs(c.problem.Spec, got.epochs, alone.epochs[resumeEpochs:]) {
			t.Errorf("%s resumed on one process: %s", c.name(), d)
		}
	}
}

// TestDistributedSIGTERM sends SIGTERM to mpirun while 3 processes train:
// every process stops after the same step, and rank 0 saves the model
// there.
func TestDistributedSIGTERM(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	job := mpitest.Job{Procs: 3, Env: []string{rankMode + "=sigterm", rankDir + "=" + dir,
		// Time for the processes to finish their step after SIGTERM,
		// before the launcher kills them.
		"OMPI_MCA_odls_base_sigkill_timeout=3"},
		Start: func(cmd *exec.Cmd) {
			time.Sleep(4 * time.Second)
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}}
	out, _ := job.Run(t, mpirun)
	stops := map[string]bool{}
	for _, line := range mpitest.Lines(out, "rank") {
		if i := strings.Index(line, "stopped at"); i >= 0 {
			stops[line[i:]] = true
		}
		if strings.Contains(line, " FAIL ") {
			t.Error(line)
		}
	}
	if len(mpitest.Lines(out, "rank 0 ok stopped")) != 1 || len(stops) != 1 {
		t.Fatalf("want every process stopped at one step; output:\n%s", out)
	}
	ck, _, err := mtl.LoadFile(filepath.Join(dir, "stopped.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	var stop string
	for s := range stops {
		stop = s
	}
	if want := fmt.Sprintf("stopped at epoch %d step %d", ck.State.Epoch, ck.State.EpochStep); stop != want {
		t.Errorf("processes %s, the saved model at %q", stop, want)
	}
}

// TestDistributedStoppedProcess stops rank 1 with SIGSTOP in its third
// epoch: the others must give up within the collective timeout (2 s) and
// 10 s, the job must end non-zero, and the model saved at the end of the
// second epoch stays intact.
func TestDistributedStoppedProcess(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	out, err := mpitest.Job{Procs: 3, Env: []string{rankMode + "=sigstop", rankDir + "=" + dir}, Timeout: time.Minute}.Run(t, mpirun)
	ended := time.Now()
	if err == nil {
		t.Fatalf("the job ended well with a stopped process; output:\n%s", out)
	}
	timedOut := mpitest.Lines(out, "rank 0 ok timed out")
	if len(timedOut) != 1 || !strings.Contains(timedOut[0], "without an answer from every other process: rank 1 stopped answering (no heartbeat)") {
		t.Errorf("rank 0 did not report the timeout naming rank 1; output:\n%s", out)
	}
	ck, _, err := mtl.LoadFile(filepath.Join(dir, "stopped.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Epoch != 2 || ck.State.EpochStep != 0 {
		t.Errorf("saved model at epoch %d step %d, want the end of epoch 2", ck.State.Epoch, ck.State.EpochStep)
	}
	stopping := mpitest.Lines(out, "rank 1 ok stopping at ")
	if len(stopping) != 1 {
		t.Fatalf("rank 1 did not stop; output:\n%s", out)
	}
	ms, err := strconv.ParseInt(strings.TrimPrefix(stopping[0], "rank 1 ok stopping at "), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	took := ended.Sub(time.UnixMilli(ms))
	if took > 12*time.Second {
		t.Errorf("the job ended %.1f s after rank 1 stopped, more than the 2 s timeout and 10 s", took.Seconds())
	}
	t.Logf("the job ended %.1f s after rank 1 stopped (2 s timeout)", took.Seconds())
}

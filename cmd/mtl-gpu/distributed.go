package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/internal/mpi"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Data-parallel training: started by mpirun or srun --mpi=pmix, one
// process per device, train joins the MPI job (see package internal/mpi
// and mtl.Trainer.Distribute). Every process reads the data and trains
// its share of each batch; rank 0 alone prints and writes files.

// DefaultCollectiveTimeout is how long a process waits in one collective
// call for the others before it gives up (--collective-timeout): longer
// than anything one process does between two steps that the others wait
// for (an epoch's validation, rank 0 writing the model file).
const DefaultCollectiveTimeout = 5 * time.Minute

// distFlags are the flags of data-parallel training.
type distFlags struct {
	mode    string
	timeout time.Duration
	joined  bool // this process joined an MPI job (joinWorld)
}

func (d *distFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.mode, "distributed", "auto", "data-parallel training under mpirun or srun --mpi=pmix: auto (when an MPI launcher started the process) or off")
	fs.DurationVar(&d.timeout, "collective-timeout", DefaultCollectiveTimeout, "data-parallel training: how long a process waits for the others in one collective (over MPI, or NCCL on the GPU) before the run fails")
}

// cluster is this process's place in a data-parallel run.
type cluster struct {
	world *mpi.World
}

// launched says whether an MPI launcher started this process and
// data-parallel training is not turned off; it refuses torchrun's
// variables without an MPI launcher.
func (a *app) launched() (mpi.Launch, error) {
	switch a.dist.mode {
	case "off":
		return mpi.Launch{}, nil
	case "auto":
	default:
		return mpi.Launch{}, usageError("--distributed %s: unknown value (want auto or off)", a.dist.mode)
	}
	if err := mpi.CheckForeignLaunch(os.LookupEnv); err != nil {
		return mpi.Launch{}, err
	}
	launch, err := mpi.DetectLaunch(os.LookupEnv)
	if err != nil {
		return mpi.Launch{}, fmt.Errorf("%v (or --distributed off)", err)
	}
	return launch, nil
}

// refuseLaunched refuses a command that runs in one process when an MPI
// launcher started it.
func (a *app) refuseLaunched(cmd *cobra.Command) error {
	launch, err := a.launched()
	if err != nil || !launch.Launched() {
		return err
	}
	return usageError("mtl-gpu %s runs in one process, but %s started this one (%s is set): run it without the launcher, or with --distributed off", cmd.Name(), launch.Launcher, launch.Variable)
}

// join is joinWorld for train: the node's memory budget is shared among
// its processes too, and what cannot run data-parallel is refused.
func (a *app) join(o *pipeline.Options) (*cluster, error) {
	c, err := a.joinWorld()
	if c == nil || err != nil {
		return c, err
	}
	w := c.world
	if w.LocalSize() > 1 {
		o.Memory.Budget.Bytes /= int64(w.LocalSize())
		o.Memory.Budget.From += fmt.Sprintf(", shared by %d processes on this node", w.LocalSize())
	}
	switch {
	case o.Memory.KeepCache:
		return c, usageError("--keep-cache: every process of a data-parallel run streams from a block cache of its own, which it removes")
	case o.Tune > 0 || o.AutoWidth:
		return c, usageError("--tune and --hidden auto search in one process: run the search without the launcher, then train its configuration data-parallel")
	}
	return c, nil
}

// joinWorld starts MPI when a launcher started this process, says in one
// line what it found, gives each of the node's processes its share of
// the cores and its device by local rank (--device cuda:local), and keeps
// every process but rank 0 quiet. It returns nil when the process runs
// alone.
func (a *app) joinWorld() (*cluster, error) {
	launch, err := a.launched()
	if err != nil || !launch.Launched() {
		return nil, err
	}
	if a.dist.timeout <= 0 {
		return nil, usageError("--collective-timeout %v: must be positive", a.dist.timeout)
	}
	lib, err := mpi.Open()
	if err != nil {
		return nil, fmt.Errorf("%s started this process, but MPI cannot be loaded: %w (install Open MPI, or train with --distributed off)", launch.Launcher, err)
	}
	w, err := lib.Init()
	if err != nil {
		return nil, err
	}
	c := &cluster{world: w}
	if err := launch.CheckWorld(w.Size()); err != nil {
		return c, err
	}
	w.SetTimeout(a.dist.timeout)
	a.dist.joined = true
	// Heartbeats name a process that stops answering (a tenth of the
	// timeout, at most every 5 s).
	if err := w.StartHeartbeat(min(a.dist.timeout/10, 5*time.Second)); err != nil {
		return c, err
	}
	if w.Rank() != 0 {
		// Rank 0 speaks for the run; the others say only what fails.
		a.quiet = true
		a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		a.stdout = io.Discard
	}
	if a.dev.threads == 0 {
		a.dev.threads = max(runtime.NumCPU()/w.LocalSize(), 1)
	}
	version, _, _ := strings.Cut(strings.TrimRight(lib.Version(), "\x00"), ",")
	a.log.Info(fmt.Sprintf("data-parallel training: %d processes under %s (%s), %d on this node; %d CPU threads each; rank 0 prints and writes the model",
		w.Size(), launch.Launcher, version, w.LocalSize(), a.dev.threads))
	if err := a.localDevice(w); err != nil {
		return c, err
	}
	return c, nil
}

// localDevice turns --device cuda:local or opencl[:P]:local into the
// device of this process's local rank.
func (a *app) localDevice(w *mpi.World) error {
	d, ok := strings.CutSuffix(a.dev.device, ":local")
	if !ok {
		return nil
	}
	kind, platform := backend.CUDA, -1
	switch {
	case d == "cuda":
		a.dev.device = "cuda:" + strconv.Itoa(w.LocalRank())
	case d == "opencl" || strings.HasPrefix(d, "opencl:"):
		kind, platform = backend.OpenCL, 0
		if p, ok := strings.CutPrefix(d, "opencl:"); ok {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return usageError("--device %s: the platform must be a number", a.dev.device)
			}
			platform = n
		}
		a.dev.device = fmt.Sprintf("opencl:%d:%d", platform, w.LocalRank())
	default:
		return usageError("--device %s: only cuda:local and opencl[:P]:local pick a device by local rank", a.dev.device)
	}
	for _, l := range backend.List(a.dev.options()) {
		if l.Kind != kind {
			continue
		}
		n := 0
		for _, dev := range l.Devices {
			if platform < 0 || dev.Device.Index == platform {
				n++
			}
		}
		if n < w.LocalSize() {
			return fmt.Errorf("--device %s:local: this node runs %d processes, one per device, but has %d such devices (see mtl-gpu devices)", d, w.LocalSize(), n)
		}
	}
	return nil
}

// leave ends the process's part in the MPI job: MPI_Finalize after a
// run that succeeded on every process, or MPI_Abort, which ends the
// others too, after an error here (they may be waiting for this process
// in a collective call). A run that timed out waiting for the others
// leaves without a word to MPI: the launcher ends the job when this
// process exits.
func (c *cluster) leave(a *app, err error) error {
	if c == nil {
		return err
	}
	if err == nil {
		if ferr := c.world.Finalize(); ferr != nil {
			return fmt.Errorf("MPI_Finalize: %w", ferr)
		}
		return nil
	}
	var timeout *mpi.TimeoutError
	var interrupted *pipeline.InterruptedError
	switch {
	case errors.As(err, &timeout):
		return err
	case errors.As(err, &interrupted):
		// Every process stopped after the same step, and rank 0 saved.
		_ = c.world.Finalize()
		return err
	}
	said := explain(err)
	fmt.Fprintf(a.stderr, "mtl-gpu: rank %d: %v\n", c.world.Rank(), said)
	code := 1
	var ee *exitError
	if errors.As(said, &ee) {
		code = ee.code
	}
	_ = c.world.Abort(code)
	return err
}

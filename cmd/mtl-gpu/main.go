// Command mtl-gpu trains, evaluates and applies multi-task models on
// tabular data, on a CUDA or OpenCL device or on the CPU.
//
//	mtl-gpu train   --data FILE --task SPEC [--task SPEC ...] --out MODEL [options]
//	mtl-gpu eval    --model MODEL --data FILE [--json]
//	mtl-gpu predict --model MODEL --data FILE --out FILE
//	mtl-gpu export  --model MODEL --onnx FILE.onnx
//	mtl-gpu serve   --model MODEL [--addr 127.0.0.1:8080]
//	mtl-gpu devices
//
// With no --data, train runs on a built-in copy of the School data set.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

// app is what every subcommand shares: where output goes and the logger.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	quiet          bool
	verbose        bool
	dev            deviceFlags
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a mistake on the command line (exit status 2).
func usageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

func main() {
	// The data set dominates the heap and lives for the whole run, while a
	// training step allocates almost nothing, and the data holds no
	// pointers, so the collector never scans it: collecting when the heap
	// has grown by a tenth costs little and keeps the peak near the data's
	// size instead of up to twice it. GOGC in the environment still rules.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(10)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := explain(root.Execute())
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "mtl-gpu: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// explain phrases the library's errors for the command line: an option
// by its flag, and the advice that goes with a diverged or interrupted
// run.
func explain(err error) error {
	var oe *pipeline.OptionError
	var de *pipeline.DivergedError
	var ie *pipeline.InterruptedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return &exitError{code: 130, err: fmt.Errorf("%v (continue with --resume %s)", ie, ie.Out)}
	case errors.As(err, &de):
		return fmt.Errorf("%v: try a lower learning rate (--lr, now %g)", de, de.LR)
	case errors.As(err, &oe) && oe.Option == "config":
		return &exitError{code: 2, err: oe.Err}
	case errors.As(err, &oe):
		return usageError("--%v", oe)
	case errors.Is(err, pipeline.ErrNoTasks):
		return usageError("--task is required with --data (e.g. --task label:multiclass)")
	case errors.Is(err, pipeline.ErrNoOut):
		return usageError("--out is required with --data")
	}
	return err
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "mtl-gpu",
		Short: "Multi-task learning on tabular data, on GPUs or the CPU",
		Long: `mtl-gpu trains one model for many prediction targets at once: a shared
representation of the inputs and one head per task (multiclass, binary or
regression), with any label allowed to be missing. The whole training step
runs on a CUDA or OpenCL device, or on the CPU.

Run "mtl-gpu train" with no arguments for a demonstration on the School data.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelInfo
			switch {
			case a.quiet:
				level = slog.LevelError
			case a.verbose:
				level = slog.LevelDebug
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: 2, err: err}
	})
	pf := root.PersistentFlags()
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print only errors and the final result")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "print debugging details")
	a.dev.register(pf)
	root.AddCommand(a.trainCommand(), a.evalCommand(), a.predictCommand(), a.devicesCommand(), a.benchCommand(), a.compareCommand(), a.plotCommand(), a.exportCommand(), a.serveCommand())
	return root
}

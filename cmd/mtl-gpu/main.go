// Command mtl-gpu trains, evaluates and applies multi-task models on
// tabular data, on a CUDA or OpenCL device or on the CPU.
//
//	mtl-gpu train   --data FILE --task SPEC [--task SPEC ...] --out MODEL [options]
//	mtl-gpu eval    --model MODEL --data FILE [--json]
//	mtl-gpu predict --model MODEL --data FILE --out FILE
//	mtl-gpu info    MODEL [--json]
//	mtl-gpu export  --model MODEL --onnx FILE.onnx
//	mtl-gpu serve   --model MODEL [--addr 127.0.0.1:8080]
//	mtl-gpu convert IN OUT
//	mtl-gpu inspect FILE [--task SPEC ...] [--json]
//	mtl-gpu devices
//
// With no --data, train runs on a built-in copy of the School data set.
// Exit status: 0 success, 1 error, 2 usage error, 3 training diverged, 130
// interrupted.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/internal/suggest"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app is what every subcommand shares: where output goes and the logger.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	quiet          bool
	verbose        bool
	dev            deviceFlags
	dist           distFlags
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit statuses besides 0 (success) and 1 (any other error).
const (
	exitUsage       = 2
	exitDiverged    = 3
	exitInterrupted = 130
)

// usageError marks a mistake on the command line (exit status 2).
func usageError(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
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
	err := explain(unknownCommand(root, root.Execute()))
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
	var ie *pipeline.InterruptedError
	var nb *pipeline.NoBetterError
	var de *pipeline.DivergedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie) && ie.Saved:
		return &exitError{code: exitInterrupted, err: fmt.Errorf("%v (continue with --resume %s)", ie, ie.Out)}
	case errors.As(err, &ie):
		return &exitError{code: exitInterrupted, err: err}
	case errors.As(err, &nb):
		advice := ""
		if !nb.Saved {
			advice = "; --force replaces it anyway"
		}
		return &exitError{code: exitDiverged, err: fmt.Errorf("%v: try a lower learning rate (--lr, now %g)%s", nb, nb.LR, advice)}
	case errors.As(err, &de):
		return &exitError{code: exitDiverged, err: fmt.Errorf("%v: try a lower learning rate (--lr, now %g)", de, de.LR)}
	case errors.As(err, &oe) && oe.Option == "config":
		return &exitError{code: exitUsage, err: oe.Err}
	case errors.As(err, &oe):
		return usageError("--%v", oe)
	case errors.Is(err, pipeline.ErrNoTasks):
		return usageError("--task is required with --data (e.g. --task label:multiclass)")
	case errors.Is(err, pipeline.ErrNoOut):
		return usageError("--out is required with --data")
	}
	return err
}

// unknownCommand phrases cobra's error for a command it does not know as
// one line with a suggestion, and makes it a usage error.
func unknownCommand(root *cobra.Command, err error) error {
	m := unknownCommandRE.FindStringSubmatch(fmt.Sprint(err))
	if err == nil || m == nil {
		return err
	}
	if m[2] != root.Name() {
		return usageError("%s takes no arguments, got %q (see mtl-gpu %s --help)", m[2], m[1], strings.TrimPrefix(m[2], root.Name()+" "))
	}
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	return usageError("unknown command %q%s (see mtl-gpu --help)", m[1], suggest.Hint(m[1], names, "%s"))
}

var unknownCommandRE = regexp.MustCompile(`^unknown command "(.*)" for "([^"]*)"`)

// flagError makes a mistake in the flags a usage error and suggests the
// flag meant for an unknown one.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		msg += suggest.Hint(name, names, "--%s")
	}
	return &exitError{code: exitUsage, err: errors.New(msg)}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "mtl-gpu",
		Short: "Multi-task learning on tabular data, on GPUs or the CPU",
		Long: `mtl-gpu trains one model for many prediction targets at once: a shared
representation of the inputs and one head per task (multiclass, binary or
regression), with any label allowed to be missing. The whole training step
runs on a CUDA or OpenCL device, or on the CPU.

Run "mtl-gpu train" with no arguments for a demonstration on the School data.

Exit status: 0 success, 1 error, 2 usage error, 3 training diverged (or
learnt nothing), 130 interrupted.`,
		Version:            version(),
		SilenceUsage:       true,
		SilenceErrors:      true,
		DisableSuggestions: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.setLogger()
			if err := a.dev.validate(); err != nil {
				return err
			}
			if cmd.Name() != "train" && cmd.Name() != "bench" {
				return a.refuseLaunched(cmd)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(flagError)
	root.SetVersionTemplate("{{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print only warnings, errors and the final result")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "print debugging details")
	a.dev.register(pf)
	a.dist.register(pf)
	root.AddCommand(a.trainCommand(), a.evalCommand(), a.predictCommand(), a.infoCommand(), a.devicesCommand(), a.benchCommand(),
		a.compareCommand(), a.plotCommand(), a.exportCommand(), a.serveCommand(), a.versionCommand(),
		a.convertCommand(), a.inspectCommand())
	return root
}

// setLogger makes the logger: --quiet keeps warnings and errors (a
// warning about the data always matters), --verbose adds debugging.
func (a *app) setLogger() {
	level := slog.LevelInfo
	switch {
	case a.quiet:
		level = slog.LevelWarn
	case a.verbose:
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

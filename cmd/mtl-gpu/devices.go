package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/internal/suggest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// deviceFlags are the flags that choose and configure a backend.
type deviceFlags struct {
	device  string
	blas    string
	cublas  string
	tf32    bool
	threads int
}

func (d *deviceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.device, "device", "auto", "device: auto, cpu, cuda[:N] or opencl[:P[:D]] (see mtl-gpu devices)")
	fs.StringVar(&d.blas, "blas", "auto", "CPU matrix multiply: auto, openblas or gonum (pure Go)")
	fs.StringVar(&d.cublas, "cublas", "", "path of the cuBLAS library to load (default: search libcublas.so.13, .12, .11)")
	fs.BoolVar(&d.tf32, "tf32", false, "let cuBLAS use TF32 tensor cores (faster, about 3 decimal digits)")
	fs.IntVar(&d.threads, "threads", 0, "CPU backend threads, for OpenBLAS and the other operations (0: all cores)")
}

// blasNames are the values of --blas.
var blasNames = []string{"auto", "openblas", "gonum"}

// validate checks the device flags that need no device, as usage errors.
func (d *deviceFlags) validate() error {
	blas := strings.ToLower(strings.TrimSpace(d.blas))
	if !slices.Contains(blasNames, blas) {
		return usageError("--blas %s: unknown value (want auto, openblas or gonum)%s", d.blas, suggest.Hint(blas, blasNames, "%s"))
	}
	d.blas = blas
	if d.threads < 0 {
		return usageError("--threads %d: must be at least 0 (0: all cores)", d.threads)
	}
	return nil
}

func (d *deviceFlags) options() backend.Options {
	return backend.Options{BLAS: d.blas, CUBLAS: cmp.Or(d.cublas, os.Getenv("MTLGPU_CUBLAS")), TF32: d.tf32, Threads: d.threads}
}

// openDevice parses --device and opens it, logging what auto chose.
func (a *app) openDevice() (backend.Backend, error) {
	b, logChoice, err := a.openDeviceQuietly()
	if err != nil {
		return nil, err
	}
	logChoice()
	return b, nil
}

// openDeviceQuietly parses --device and opens it; logChoice logs what
// auto chose, for a command that has more to say first (or errors to
// report alone).
func (a *app) openDeviceQuietly() (b backend.Backend, logChoice func(), err error) {
	if strings.HasSuffix(a.dev.device, ":local") {
		// joinWorld replaces it under a launcher.
		return nil, nil, usageError("--device %s picks the device by the process's rank on its node: start mtl-gpu with mpirun or srun --mpi=pmix, one process per device", a.dev.device)
	}
	dev, err := backend.ParseDevice(a.dev.device)
	if err != nil {
		return nil, nil, usageError("--device: %v", err)
	}
	b, why, err := backend.Open(dev, a.dev.options())
	if err != nil {
		return nil, nil, fmt.Errorf("--device %s: %w", a.dev.device, err)
	}
	if g, ok := b.(backend.GroupWatcher); ok && a.dist.joined {
		// A wait for a device collective is bounded like an MPI one.
		g.SetGroupTimeout(a.dist.timeout)
	}
	return b, func() {
		if why != "" {
			a.log.Info(why)
		}
		info := b.Info()
		a.log.Debug("device", "device", info.Device, "name", info.Name, "detail", info.Detail)
	}, nil
}

func (a *app) devicesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the devices of every backend in this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tNAME\tMEMORY\tDETAIL")
			for _, l := range backend.List(a.dev.options()) {
				if l.Err != nil {
					fmt.Fprintf(tw, "%s\t-\t-\t%s\n", l.Kind, oneLine(l.Err.Error()))
					continue
				}
				if len(l.Devices) == 0 {
					fmt.Fprintf(tw, "%s\t-\t-\tno devices found\n", l.Kind)
				}
				for _, d := range l.Devices {
					detail := d.Detail
					if d.CPU && l.Kind != backend.CPU {
						detail += " (a CPU device: auto prefers the cpu backend; name it to use it)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Device, d.Name, memory(d.Memory), detail)
				}
			}
			return tw.Flush()
		},
	}
}

// memory formats a byte count for listings.
func memory(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

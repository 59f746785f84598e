package mpi

import (
	"fmt"
	"strconv"
	"strings"
)

// Lookup reads one environment variable, as os.LookupEnv does. The
// package never reads the environment itself: the command passes
// os.LookupEnv, tests a map.
type Lookup func(key string) (string, bool)

// MapLookup returns a Lookup that reads env.
func MapLookup(env map[string]string) Lookup {
	return func(key string) (string, bool) {
		v, ok := env[key]
		return v, ok
	}
}

// Launch says which MPI launcher started this process, as the variables
// it sets say. It tells whether to start MPI at all; the world's size and
// this process's rank come from MPI (World.Size, World.Rank), never from
// these variables.
type Launch struct {
	// Launcher is "Open MPI" (mpirun), "PMIx" (srun --mpi=pmix, prterun)
	// or "Slurm" (srun), or empty when no MPI launcher started the
	// process.
	Launcher string
	// Variable is the variable that says so, such as
	// "OMPI_COMM_WORLD_RANK".
	Variable string
	// Tasks is how many processes the launcher says it started, or 0 when
	// it does not say.
	Tasks int
	// TasksVariable is the variable Tasks was read from.
	TasksVariable string
}

// Launched reports whether an MPI launcher started this process.
func (l Launch) Launched() bool { return l.Launcher != "" }

// launchers are the variables that say which launcher started a process,
// in the order they are trusted, with the variables that count its tasks.
// Open MPI's mpirun sets OMPI_COMM_WORLD_* (and, from Open MPI 5, PMIX_RANK
// too); srun --mpi=pmix sets PMIX_RANK and SLURM_*; plain srun sets only
// SLURM_*. SLURM_NTASKS is not read: it counts the tasks of the
// allocation, not those of this step.
var launchers = []struct {
	launcher string
	markers  []string
	tasks    []string
}{
	{"Open MPI", []string{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, []string{"OMPI_COMM_WORLD_SIZE"}},
	{"PMIx", []string{"PMIX_RANK"}, []string{"SLURM_STEP_NUM_TASKS"}},
	{"Slurm", []string{"SLURM_PROCID"}, []string{"SLURM_STEP_NUM_TASKS"}},
}

// DetectLaunch says from the environment which MPI launcher, if any,
// started this process. It fails only when a count of tasks is not a
// positive number.
func DetectLaunch(lookup Lookup) (Launch, error) {
	for _, l := range launchers {
		for _, marker := range l.markers {
			if _, ok := lookup(marker); !ok {
				continue
			}
			launch := Launch{Launcher: l.launcher, Variable: marker}
			for _, key := range l.tasks {
				v, ok := lookup(key)
				if !ok {
					continue
				}
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 {
					return Launch{}, fmt.Errorf("%s=%q is not a positive number of tasks", key, v)
				}
				launch.Tasks, launch.TasksVariable = n, key
				break
			}
			return launch, nil
		}
	}
	return Launch{}, nil
}

// CheckWorld compares the world's size that MPI reports with the number of
// tasks the launcher said it started. They differ when each process
// started MPI alone, as a world of one: Slurm's srun without a PMI that
// Open MPI can use starts N copies that each train on their own.
func (l Launch) CheckWorld(size int) error {
	if l.Tasks == 0 || l.Tasks == size {
		return nil
	}
	advice := "the processes did not join one MPI job"
	if l.Launcher != "Open MPI" {
		advice += "; with Slurm, launch with srun --mpi=pmix (srun --mpi=list shows what this Slurm offers)"
	}
	return fmt.Errorf("%s started %d tasks (%s=%d), but MPI sees a world of %d: %s",
		l.Launcher, l.Tasks, l.TasksVariable, l.Tasks, size, advice)
}

// foreignVariables are the variables other launchers (torchrun, Horovod's
// gloo, DeepSpeed) set to give a process its rank; MPI training does not
// read them.
var foreignVariables = []string{"RANK", "WORLD_SIZE", "LOCAL_RANK"}

// CheckForeignLaunch returns an error when the environment gives this
// process a rank as torchrun does (RANK, WORLD_SIZE, LOCAL_RANK) but no
// MPI launcher started it: such a process would train alone while its
// launcher expects it to share the work. The error says how to launch
// under MPI instead. It returns nil when an MPI launcher started the
// process (its variables, not these, count) or none of these is set.
func CheckForeignLaunch(lookup Lookup) error {
	launch, err := DetectLaunch(lookup)
	if err != nil {
		return err
	}
	if launch.Launched() {
		return nil
	}
	var set []string
	for _, key := range foreignVariables {
		if v, ok := lookup(key); ok && v != "" {
			set = append(set, key+"="+v)
		}
	}
	if len(set) == 0 {
		return nil
	}
	verb := "is"
	if len(set) > 1 {
		verb = "are"
	}
	return fmt.Errorf("%s %s set, but no MPI launcher started this process (none of OMPI_COMM_WORLD_RANK, PMIX_RANK, SLURM_PROCID): "+
		"data-parallel training runs under MPI, one process per device; start it with mpirun -np N or srun --mpi=pmix, "+
		"or unset %s to train in one process", strings.Join(set, " and "), verb, strings.Join(keys(set), " and "))
}

// keys returns the names of KEY=VALUE pairs.
func keys(pairs []string) []string {
	names := make([]string, len(pairs))
	for i, p := range pairs {
		names[i], _, _ = strings.Cut(p, "=")
	}
	return names
}

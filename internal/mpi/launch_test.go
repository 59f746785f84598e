package mpi

import (
	"strings"
	"testing"
)

func TestDetectLaunch(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want Launch
	}{
		{"none", map[string]string{"HOME": "/root"}, Launch{}},
		{"torchrun only", map[string]string{"RANK": "1", "WORLD_SIZE": "4"}, Launch{}},
		{"mpirun", map[string]string{"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2"},
			Launch{Launcher: "Open MPI", Variable: "OMPI_COMM_WORLD_SIZE", Tasks: 4, TasksVariable: "OMPI_COMM_WORLD_SIZE"}},
		{"mpirun, rank only", map[string]string{"OMPI_COMM_WORLD_RANK": "0"},
			Launch{Launcher: "Open MPI", Variable: "OMPI_COMM_WORLD_RANK"}},
		// Open MPI 5's mpirun sets PMIx's variables too; inside a Slurm
		// allocation the Slurm ones are inherited: mpirun's count wins.
		{"mpirun 5 in Slurm", map[string]string{"OMPI_COMM_WORLD_SIZE": "2", "PMIX_RANK": "1", "SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "1"},
			Launch{Launcher: "Open MPI", Variable: "OMPI_COMM_WORLD_SIZE", Tasks: 2, TasksVariable: "OMPI_COMM_WORLD_SIZE"}},
		{"srun --mpi=pmix", map[string]string{"PMIX_RANK": "3", "SLURM_PROCID": "3", "SLURM_STEP_NUM_TASKS": "8", "SLURM_NTASKS": "16"},
			Launch{Launcher: "PMIx", Variable: "PMIX_RANK", Tasks: 8, TasksVariable: "SLURM_STEP_NUM_TASKS"}},
		{"prterun", map[string]string{"PMIX_RANK": "0"}, Launch{Launcher: "PMIx", Variable: "PMIX_RANK"}},
		{"srun", map[string]string{"SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "4", "RANK": "0"},
			Launch{Launcher: "Slurm", Variable: "SLURM_PROCID", Tasks: 4, TasksVariable: "SLURM_STEP_NUM_TASKS"}},
		{"sbatch script", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4"},
			Launch{Launcher: "Slurm", Variable: "SLURM_PROCID"}},
	} {
		got, err := DetectLaunch(MapLookup(c.env))
		if err != nil || got != c.want {
			t.Errorf("%s: DetectLaunch = %+v, %v; want %+v", c.name, got, err, c.want)
		}
		if got.Launched() != (c.want.Launcher != "") {
			t.Errorf("%s: Launched() = %v", c.name, got.Launched())
		}
	}
}

func TestDetectLaunchBadCount(t *testing.T) {
	for _, v := range []string{"", "four", "0", "-2"} {
		_, err := DetectLaunch(MapLookup(map[string]string{"OMPI_COMM_WORLD_SIZE": v}))
		if want := `OMPI_COMM_WORLD_SIZE="` + v + `" is not a positive number of tasks`; err == nil || err.Error() != want {
			t.Errorf("OMPI_COMM_WORLD_SIZE=%q: %v, want %q", v, err, want)
		}
	}
}

func TestCheckWorld(t *testing.T) {
	srun := Launch{Launcher: "Slurm", Variable: "SLURM_PROCID", Tasks: 4, TasksVariable: "SLURM_STEP_NUM_TASKS"}
	if err := srun.CheckWorld(4); err != nil {
		t.Errorf("CheckWorld(4) of 4 tasks: %v", err)
	}
	err := srun.CheckWorld(1)
	want := "Slurm started 4 tasks (SLURM_STEP_NUM_TASKS=4), but MPI sees a world of 1: the processes did not join one MPI job; " +
		"with Slurm, launch with srun --mpi=pmix (srun --mpi=list shows what this Slurm offers)"
	if err == nil || err.Error() != want {
		t.Errorf("CheckWorld(1) of 4 Slurm tasks:\n%v, want\n%s", err, want)
	}
	mpirun := Launch{Launcher: "Open MPI", Variable: "OMPI_COMM_WORLD_SIZE", Tasks: 3, TasksVariable: "OMPI_COMM_WORLD_SIZE"}
	if err := mpirun.CheckWorld(2); err == nil || strings.Contains(err.Error(), "srun") {
		t.Errorf("CheckWorld(2) of 3 mpirun tasks: %v, want an error without Slurm's advice", err)
	}
	// A launcher that does not count its tasks cannot be checked.
	if err := (Launch{Launcher: "PMIx", Variable: "PMIX_RANK"}).CheckWorld(5); err != nil {
		t.Errorf("CheckWorld without a count: %v", err)
	}
}

func TestCheckForeignLaunch(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // empty: no error
	}{
		{"nothing set", map[string]string{"HOME": "/root"}, ""},
		{"torchrun", map[string]string{"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"},
			"RANK=1 and WORLD_SIZE=4 and LOCAL_RANK=1 are set, but no MPI launcher started this process " +
				"(none of OMPI_COMM_WORLD_RANK, PMIX_RANK, SLURM_PROCID): data-parallel training runs under MPI, " +
				"one process per device; start it with mpirun -np N or srun --mpi=pmix, " +
				"or unset RANK and WORLD_SIZE and LOCAL_RANK to train in one process"},
		{"world size alone", map[string]string{"WORLD_SIZE": "2"}, "WORLD_SIZE=2 is set, but no MPI launcher"},
		{"empty RANK", map[string]string{"RANK": ""}, ""},
		{"under mpirun", map[string]string{"RANK": "1", "WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "1"}, ""},
		{"under srun", map[string]string{"RANK": "0", "SLURM_PROCID": "0"}, ""},
		{"bad count", map[string]string{"RANK": "0", "OMPI_COMM_WORLD_SIZE": "x"}, `OMPI_COMM_WORLD_SIZE="x" is not a positive number`},
	} {
		err := CheckForeignLaunch(MapLookup(c.env))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", c.name, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s:\n%v, want it to start\n%s", c.name, err, c.want)
		}
	}
}

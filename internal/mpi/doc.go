// Package mpi is a small binding of Open MPI, loaded at run time, for
// data-parallel training: one process per device, started by
// `mpirun -np N mtl-gpu train ...` or by Slurm's `srun --mpi=pmix`, each
// holding a copy of the model and summing its gradients with the others'.
//
// # Why purego, not cgo
//
// Open loads Open MPI's libmpi.so.40 with dlopen through purego, as the
// CUDA backend loads libcuda and cuBLAS and the CPU backend OpenBLAS. A
// binding through cgo would need mpi.h and a C compiler to build, and a
// binary that links libmpi cannot start where Open MPI is not installed.
// With purego there is one static binary, built with CGO_ENABLED=0 and no
// MPI at build time, that trains alone anywhere and data-parallel where
// libmpi.so.40 exists. The price is that the binding cannot read mpi.h:
// the few constants it needs (MPI_THREAD_FUNNELED, MPI_COMM_TYPE_SHARED,
// MPI_IN_PLACE, MPI_MAX_ERROR_STRING) are copied from Open MPI's, and its
// handles are found by name. In Open MPI every predefined handle is the
// address of a global object, so MPI_COMM_WORLD is the address of the
// symbol ompi_mpi_comm_world, MPI_FLOAT that of ompi_mpi_float and MPI_SUM
// that of ompi_mpi_op_sum, all looked up with dlsym.
//
// # What is supported
//
//   - Open MPI 3, 4 and 5 (soname libmpi.so.40; tested with 4.1) on
//     Linux on amd64 and arm64, with or without cgo.
//   - MPI_COMM_WORLD only: Size, Rank, and the rank among the processes on
//     the same node (LocalRank, from MPI_Comm_split_type with
//     MPI_COMM_TYPE_SHARED), which picks the device.
//   - Barrier, Bcast of bytes, and in-place Allreduce (Sum, Max) of
//     float32, float64 and int64 slices on host memory; buffers of more
//     elements than a C int counts go in pieces.
//   - Finalize and Abort.
//   - A timeout on every collective call (SetTimeout), and heartbeats over
//     UDP (StartHeartbeat) that let a timed-out call name the ranks that
//     fell silent.
//
// Not supported: MPICH and the MPIs built from it (Intel MPI, MVAPICH,
// Cray MPICH), whose libmpi.so.12 defines its handles as integer constants
// of mpi.h that no symbol carries; Open refuses them by name ("MPICH is
// not supported: ...") rather than pass them wrong handles. Nor are other
// communicators, point-to-point messages, non-blocking collectives,
// user-defined types or reductions, or device (CUDA-aware) buffers.
//
// # Threads and errors
//
// Init asks for MPI_THREAD_FUNNELED: one goroutine locked to the OS thread
// that initialised MPI makes every MPI call, and World's methods hand their
// work to it (as the CUDA backend's context lives on one locked thread).
// Init sets MPI_ERRORS_RETURN on MPI_COMM_WORLD, so a failed call returns
// an *Error that carries MPI_Error_string's text instead of ending the job.
// Nothing here prints or exits; Abort is the caller's choice.
//
// # Launchers
//
// The package never reads the environment. DetectLaunch and
// CheckForeignLaunch take a Lookup (os.LookupEnv in the command) and say
// whether an MPI launcher started the process (OMPI_COMM_WORLD_*,
// PMIX_RANK, SLURM_PROCID), or refuse torchrun's RANK and WORLD_SIZE
// without one. The world's size and ranks always come from MPI itself;
// Launch.CheckWorld only compares them with the launcher's count, to catch
// processes that each started MPI alone.
package mpi

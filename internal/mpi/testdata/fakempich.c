/*
 * A stand-in for MPICH's libmpi.so.12: the two functions Open looks at in
 * a library that is not Open MPI. MPICH's handles are integers in mpi.h,
 * so it has no ompi_mpi_comm_world. FAKE_VERSION is what
 * MPI_Get_library_version says.
 */
#include <string.h>

int MPI_Init(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }

int MPI_Get_library_version(char *version, int *resultlen) {
    static const char text[] = FAKE_VERSION;
    memcpy(version, text, sizeof text);
    *resultlen = (int)(sizeof text - 1);
    return 0;
}

package mpi

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/internal/dynlib"
)

// LibraryNames are the names Open tries by default: the soname of Open
// MPI's library, which Open MPI 3, 4 and 5 share.
var LibraryNames = []string{"libmpi.so.40"}

// otherNames are the sonames of MPI libraries this binding cannot drive:
// MPICH and the MPIs built from it (Intel MPI, MVAPICH, Cray MPICH), whose
// handles are integers fixed in mpi.h rather than addresses of symbols.
// Open loads them only to name them in its error, when no Open MPI loads.
var otherNames = []string{"libmpi.so.12", "libmpich.so.12"}

// ErrNoMPI is wrapped by the error of Open when none of the names given
// loads as Open MPI.
var ErrNoMPI = errors.New("no Open MPI library found")

// ErrUnsupported is wrapped by the error of Open when the MPI library that
// loads is not Open MPI.
var ErrUnsupported = errors.New("unsupported MPI library")

// LoadError says why none of the names of Open MPI's library could be
// loaded: "no Open MPI library found (libmpi.so.40: cannot open shared
// object file: No such file or directory)".
type LoadError struct {
	// Reasons has one line per name tried, each starting with the name.
	Reasons []string
}

// Error returns ErrNoMPI's text followed by every reason.
func (e *LoadError) Error() string {
	return ErrNoMPI.Error() + " (" + strings.Join(e.Reasons, "; ") + ")"
}

// Unwrap returns ErrNoMPI.
func (e *LoadError) Unwrap() error { return ErrNoMPI }

// UnsupportedError is an MPI library that loads but is not Open MPI:
// "MPICH is not supported: libmpi.so.12 is MPICH Version: 4.0.2, whose
// handles are integers, not symbols; this binding needs Open MPI
// (libmpi.so.40)".
type UnsupportedError struct {
	// Family is "MPICH" for MPICH and the MPIs built from it, or "this
	// MPI library" when the library does not say what it is.
	Family string
	// Name is the name the library was loaded by.
	Name string
	// Version is the first line of what MPI_Get_library_version says, or
	// empty.
	Version string
	// Missing says why Open MPI itself did not load, when it was tried
	// first; empty when the library was asked for by name.
	Missing []string
}

// Error names the family, the library and its version.
func (e *UnsupportedError) Error() string {
	s := e.Family + " is not supported: " + e.Name
	if e.Version != "" {
		s += " is " + e.Version + ","
	}
	if e.Family == "MPICH" {
		s += " whose handles are integers, not symbols;"
	} else {
		s += " not Open MPI;"
	}
	s += " this binding needs Open MPI (" + strings.Join(LibraryNames, ", ") + ")"
	if len(e.Missing) > 0 {
		s += ", which did not load (" + strings.Join(e.Missing, "; ") + ")"
	}
	return s
}

// Unwrap returns ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// family names the kind of a non-Open MPI library from its soname and the
// text of MPI_Get_library_version: MPICH and its derivatives share soname
// libmpi.so.12 and integer handles.
func family(name, version string) string {
	v := strings.ToLower(version)
	for _, mark := range []string{"mpich", "mvapich", "intel(r) mpi"} {
		if strings.Contains(v, mark) {
			return "MPICH"
		}
	}
	base := name[strings.LastIndex(name, "/")+1:]
	if base == "libmpi.so.12" || strings.HasPrefix(base, "libmpi.so.12.") || strings.HasPrefix(base, "libmpich.so") {
		return "MPICH"
	}
	return "this MPI library"
}

// firstLine returns s up to its first line break, trimmed.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), " ")
}

// Library is Open MPI's libmpi, loaded and bound. Its fields are the C
// functions the binding calls and the addresses of the predefined objects
// that are Open MPI's handles (MPI_COMM_WORLD is &ompi_mpi_comm_world).
// Init starts MPI on it; MPI's state belongs to the process, so one
// process initialises MPI once.
type Library struct {
	// name is the name the library was loaded by.
	name   string
	handle uintptr

	mpiInitThread          func(argc, argv uintptr, required int32, provided *int32) int32
	mpiInitialized         func(flag *int32) int32
	mpiFinalized           func(flag *int32) int32
	mpiFinalize            func() int32
	mpiCommSize            func(comm uintptr, size *int32) int32
	mpiCommRank            func(comm uintptr, rank *int32) int32
	mpiCommSplitType       func(comm uintptr, splitType, key int32, info uintptr, newComm *uintptr) int32
	mpiCommFree            func(comm *uintptr) int32
	mpiCommSetErrhandler   func(comm, errhandler uintptr) int32
	mpiBarrier             func(comm uintptr) int32
	mpiBcast               func(buf unsafe.Pointer, count int32, datatype uintptr, root int32, comm uintptr) int32
	mpiAllreduce           func(sendBuf uintptr, recvBuf unsafe.Pointer, count int32, datatype, op, comm uintptr) int32
	mpiAbort               func(comm uintptr, errorCode int32) int32
	mpiErrorString         func(code int32, text *byte, length *int32) int32
	mpiGetLibraryVersion   func(text *byte, length *int32) int32
	commWorld, infoNull    uintptr
	errorsReturn           uintptr
	typeByte, typeFloat32  uintptr
	typeFloat64, typeInt64 uintptr
	opSum, opMax           uintptr
}

// functions lists the C functions the binding calls.
func (l *Library) functions() []struct {
	name string
	fptr any
} {
	return []struct {
		name string
		fptr any
	}{
		{"MPI_Init_thread", &l.mpiInitThread},
		{"MPI_Initialized", &l.mpiInitialized},
		{"MPI_Finalized", &l.mpiFinalized},
		{"MPI_Finalize", &l.mpiFinalize},
		{"MPI_Comm_size", &l.mpiCommSize},
		{"MPI_Comm_rank", &l.mpiCommRank},
		{"MPI_Comm_split_type", &l.mpiCommSplitType},
		{"MPI_Comm_free", &l.mpiCommFree},
		{"MPI_Comm_set_errhandler", &l.mpiCommSetErrhandler},
		{"MPI_Barrier", &l.mpiBarrier},
		{"MPI_Bcast", &l.mpiBcast},
		{"MPI_Allreduce", &l.mpiAllreduce},
		{"MPI_Abort", &l.mpiAbort},
		{"MPI_Error_string", &l.mpiErrorString},
		{"MPI_Get_library_version", &l.mpiGetLibraryVersion},
	}
}

// objects lists Open MPI's predefined objects whose addresses are the
// handles the binding passes: mpi.h defines MPI_FLOAT as &ompi_mpi_float,
// and so on.
func (l *Library) objects() []struct {
	name string
	addr *uintptr
} {
	return []struct {
		name string
		addr *uintptr
	}{
		{"ompi_mpi_comm_world", &l.commWorld},
		{"ompi_mpi_info_null", &l.infoNull},
		{"ompi_mpi_errors_return", &l.errorsReturn},
		{"ompi_mpi_byte", &l.typeByte},
		{"ompi_mpi_float", &l.typeFloat32},
		{"ompi_mpi_double", &l.typeFloat64},
		{"ompi_mpi_int64_t", &l.typeInt64},
		{"ompi_mpi_op_sum", &l.opSum},
		{"ompi_mpi_op_max", &l.opMax},
	}
}

// Open loads the first of names (LibraryNames when none are given) that is
// Open MPI with every function and handle the binding needs. It does not
// start MPI (see Init). A library that loads but is not Open MPI is refused
// with an *UnsupportedError that names it (MPICH, whose handles are
// integers). When no name loads, Open looks for MPICH's libmpi.so.12 to
// name it in the same way, and otherwise returns a *LoadError.
func Open(names ...string) (*Library, error) {
	if len(names) == 0 {
		names = LibraryNames
	}
	return open(names, otherNames)
}

// open is Open, looking for the libraries of others when none of names
// loads.
func open(names, others []string) (*Library, error) {
	var reasons []string
	for _, name := range names {
		handle, err := dynlib.Open(name, true)
		if err != nil {
			reasons = append(reasons, dynlib.Reason(name, err, "cannot be loaded"))
			continue
		}
		if !has(handle, "MPI_Init") {
			dynlib.Close(handle)
			reasons = append(reasons, name+": not an MPI library (no MPI_Init)")
			continue
		}
		if !has(handle, "ompi_mpi_comm_world") {
			unsupported := describe(handle, name)
			dynlib.Close(handle)
			return nil, unsupported
		}
		lib := &Library{name: name, handle: handle}
		if err := lib.bind(); err != nil {
			dynlib.Close(handle)
			reasons = append(reasons, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		return lib, nil
	}
	for _, name := range others {
		handle, err := dynlib.Open(name, false)
		if err != nil {
			continue
		}
		if !has(handle, "MPI_Init") {
			dynlib.Close(handle)
			continue
		}
		unsupported := describe(handle, name)
		dynlib.Close(handle)
		unsupported.Missing = reasons
		return nil, unsupported
	}
	return nil, &LoadError{Reasons: reasons}
}

// has reports whether the library behind handle has the symbol name.
func has(handle uintptr, name string) bool {
	addr, err := dynlib.Sym(handle, name)
	return err == nil && addr != 0
}

// describe names the library behind handle, which is not Open MPI, by what
// its MPI_Get_library_version says (callable before MPI_Init).
func describe(handle uintptr, name string) *UnsupportedError {
	version := ""
	if addr, err := dynlib.Sym(handle, "MPI_Get_library_version"); err == nil && addr != 0 {
		var get func(text *byte, length *int32) int32
		dynlib.Register(&get, addr)
		// MPICH's MPI_MAX_LIBRARY_VERSION_STRING is 8192, Open MPI's 256.
		buf := make([]byte, 8192)
		var n int32
		if get(&buf[0], &n) == 0 && n > 0 && int(n) <= len(buf) {
			version = firstLine(string(buf[:n]))
		}
	}
	return &UnsupportedError{Family: family(name, version), Name: name, Version: version}
}

// bind looks up every function and handle; it fails on the first one that
// is missing.
func (l *Library) bind() error {
	for _, f := range l.functions() {
		addr, err := dynlib.Sym(l.handle, f.name)
		if err != nil || addr == 0 {
			return fmt.Errorf("no %s (not Open MPI 3 or later?)", f.name)
		}
		dynlib.Register(f.fptr, addr)
	}
	for _, o := range l.objects() {
		addr, err := dynlib.Sym(l.handle, o.name)
		if err != nil || addr == 0 {
			return fmt.Errorf("no %s (not Open MPI 3 or later?)", o.name)
		}
		*o.addr = addr
	}
	return nil
}

// Name returns the name the library was loaded by.
func (l *Library) Name() string { return l.name }

// Version returns the first line of what MPI_Get_library_version says,
// such as "Open MPI v4.1.4, package: Debian OpenMPI, ...".
func (l *Library) Version() string {
	buf := make([]byte, 8192)
	var n int32
	if l.mpiGetLibraryVersion(&buf[0], &n) != 0 || n <= 0 || int(n) > len(buf) {
		return ""
	}
	return firstLine(string(buf[:n]))
}

// Initialized reports whether MPI has been initialised in this process
// (MPI_Initialized); it stays true after MPI_Finalize.
func (l *Library) Initialized() (bool, error) {
	var flag int32
	if err := l.check("MPI_Initialized", l.mpiInitialized(&flag)); err != nil {
		return false, err
	}
	return flag != 0, nil
}

// Finalized reports whether MPI has been finalised in this process
// (MPI_Finalized).
func (l *Library) Finalized() (bool, error) {
	var flag int32
	if err := l.check("MPI_Finalized", l.mpiFinalized(&flag)); err != nil {
		return false, err
	}
	return flag != 0, nil
}

// Abort ends every process of MPI_COMM_WORLD with errorCode as the exit
// status mpirun reports (MPI_Abort). It may be called from any goroutine,
// also while another is blocked in a collective call (Open MPI ends the job
// from any thread), and returns only when MPI could not abort: before Init,
// say.
func (l *Library) Abort(errorCode int) error {
	if ok, err := l.Initialized(); err != nil {
		return err
	} else if !ok {
		return errors.New("MPI_Abort: MPI is not initialised")
	}
	if done, err := l.Finalized(); err != nil {
		return err
	} else if done {
		return errors.New("MPI_Abort: MPI is already finalised")
	}
	return l.check("MPI_Abort", l.mpiAbort(l.commWorld, int32(errorCode)))
}

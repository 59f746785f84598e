package cu

import (
	"errors"
	"fmt"
)

// NCCLNames are the names OpenNCCL tries by default.
var NCCLNames = []string{"libnccl.so.2", "libnccl.so"}

// ErrNoNCCL is wrapped by the error of OpenNCCL when no name of the NCCL
// library could be loaded.
var ErrNoNCCL = errors.New("NCCL not found")

// UniqueID is an ncclUniqueId: what one process makes and every process
// of a communicator passes to InitRank. It is passed to C by value.
type UniqueID struct {
	Internal [128]byte
}

// Comm is an ncclComm_t.
type Comm uintptr

// NCCLResult is an ncclResult_t.
type NCCLResult int32

// ncclResultNames are the names of the ncclResult_t codes, from nccl.h.
var ncclResultNames = map[NCCLResult]string{
	0: "ncclSuccess", 1: "ncclUnhandledCudaError", 2: "ncclSystemError", 3: "ncclInternalError",
	4: "ncclInvalidArgument", 5: "ncclInvalidUsage", 6: "ncclRemoteError", 7: "ncclInProgress",
}

// Name returns the code's name in nccl.h.
func (r NCCLResult) Name() string {
	if n, ok := ncclResultNames[r]; ok {
		return n
	}
	return fmt.Sprintf("ncclResult_t(%d)", int32(r))
}

// The data type and reduction of the all-reduce the trainer makes
// (ncclFloat32 and ncclSum of nccl.h).
const (
	ncclFloat32 int32 = 7
	ncclSum     int32 = 0
)

// NCCL is the loaded NCCL library; its fields are the C functions it
// binds.
type NCCL struct {
	lib *library

	ncclGetVersion        func(v *int32) NCCLResult
	ncclGetUniqueId       func(id *UniqueID) NCCLResult
	ncclCommInitRank      func(c *Comm, nranks int32, id UniqueID, rank int32) NCCLResult
	ncclAllReduce         func(send, recv DevicePtr, count uint64, dtype, op int32, c Comm, s Stream) NCCLResult
	ncclCommAbort         func(c Comm) NCCLResult
	ncclCommDestroy       func(c Comm) NCCLResult
	ncclGetErrorString    func(r NCCLResult) string
	ncclGetLastError      func(c Comm) string
	ncclCommGetAsyncError func(c Comm, r *NCCLResult) NCCLResult
}

// OpenNCCL loads the first of names (NCCLNames when empty) that has every
// function the binding needs. When none loads, the error is a *LoadError
// that wraps ErrNoNCCL.
func OpenNCCL(names ...string) (*NCCL, error) {
	if len(names) == 0 {
		names = NCCLNames
	}
	n := &NCCL{}
	lib, err := openLibrary(ErrNoNCCL, names, []symbol{
		{"ncclGetVersion", &n.ncclGetVersion, false},
		{"ncclGetUniqueId", &n.ncclGetUniqueId, false},
		{"ncclCommInitRank", &n.ncclCommInitRank, false},
		{"ncclAllReduce", &n.ncclAllReduce, false},
		{"ncclCommAbort", &n.ncclCommAbort, false},
		{"ncclCommDestroy", &n.ncclCommDestroy, false},
		{"ncclGetErrorString", &n.ncclGetErrorString, false},
		{"ncclGetLastError", &n.ncclGetLastError, true},
		{"ncclCommGetAsyncError", &n.ncclCommGetAsyncError, true},
	})
	if err != nil {
		return nil, err
	}
	n.lib = lib
	return n, nil
}

// Library is the name NCCL was loaded by.
func (n *NCCL) Library() string { return n.lib.name }

// check returns nil for ncclSuccess and an *Error naming call and code
// otherwise, with NCCL's description and its last error for c (when not
// 0).
func (n *NCCL) check(call string, r NCCLResult, c Comm) error {
	if r == 0 {
		return nil
	}
	e := &Error{Func: call, Code: int32(r), Name: r.Name(), Text: n.ncclGetErrorString(r)}
	if c != 0 && n.ncclGetLastError != nil {
		if last := n.ncclGetLastError(c); last != "" {
			e.Text += ": " + last
		}
	}
	return e
}

// Version returns NCCL's version as 10000·major + 100·minor + patch.
func (n *NCCL) Version() (int, error) {
	var v int32
	err := n.check("ncclGetVersion", n.ncclGetVersion(&v), 0)
	return int(v), err
}

// UniqueID makes the identifier of a new communicator.
func (n *NCCL) UniqueID() (UniqueID, error) {
	var id UniqueID
	err := n.check("ncclGetUniqueId", n.ncclGetUniqueId(&id), 0)
	return id, err
}

// InitRank joins the communicator id of nranks processes as rank, on the
// device of the current context. It returns when every rank has joined.
func (n *NCCL) InitRank(nranks int, id UniqueID, rank int) (Comm, error) {
	var c Comm
	err := n.check("ncclCommInitRank", n.ncclCommInitRank(&c, int32(nranks), id, int32(rank)), 0)
	return c, err
}

// AllReduceSum enqueues on stream s the sum over the communicator of
// count float32 values at send into recv (which may be send).
func (n *NCCL) AllReduceSum(send, recv DevicePtr, count int, c Comm, s Stream) error {
	return n.check("ncclAllReduce", n.ncclAllReduce(send, recv, uint64(count), ncclFloat32, ncclSum, c, s), c)
}

// Abort ends the communicator at once: the collectives of the other
// processes that wait for this one fail instead of hanging. Any thread may
// call it.
func (n *NCCL) Abort(c Comm) error {
	return n.check("ncclCommAbort", n.ncclCommAbort(c), 0)
}

// Destroy releases the communicator once its collectives are done.
func (n *NCCL) Destroy(c Comm) error {
	return n.check("ncclCommDestroy", n.ncclCommDestroy(c), 0)
}

// AsyncError returns the error NCCL's own threads found on the
// communicator (ncclCommGetAsyncError: a process that left, a network
// error), nil while there is none or when NCCL lacks the call. Any thread
// may call it, while another waits for the communicator's collectives.
func (n *NCCL) AsyncError(c Comm) error {
	if n.ncclCommGetAsyncError == nil {
		return nil
	}
	var r NCCLResult
	if err := n.check("ncclCommGetAsyncError", n.ncclCommGetAsyncError(c, &r), 0); err != nil {
		return err
	}
	if r == 0 || r == 7 { // ncclInProgress: a non-blocking call still running
		return nil
	}
	return n.check("ncclCommGetAsyncError", r, c)
}

package backend

import "time"

// DeviceGroup is a backend that sums buffers across the processes of a
// data-parallel run on the device itself, in stream order, without
// copies through the host: the CUDA backend through NCCL. A trainer that
// finds it uses it in place of the host all-reduce.
//
// Every process checks GroupReady, one makes GroupID and passes it to the
// others (over MPI), and each calls JoinGroup with its rank; from then on
// every process calls AllReduceSum with buffers of the same lengths in the
// same order.
type DeviceGroup interface {
	// GroupReady loads what the group needs and says why it cannot be
	// made here (nil when it can).
	GroupReady() error
	// GroupID makes the identifier of a new group.
	GroupID() ([]byte, error)
	// JoinGroup joins group id of size processes as rank; it returns when
	// every process has joined. A backend that has joined a group of the
	// same rank and size keeps it.
	JoinGroup(id []byte, rank, size int) error
	// AllReduceSum replaces v, in every process, by its sum over the
	// processes, in stream order. Errors show at the next Sync.
	AllReduceSum(v Vec)
	// GroupName names the library that carries the group, e.g.
	// "NCCL 2.23.4".
	GroupName() string
	// AbortGroup ends the group at once, from any goroutine: the other
	// processes' collectives fail rather than wait for this one.
	AbortGroup()
}

// GroupWatcher is a DeviceGroup whose host waits can be bounded: a
// collective that never finishes (a process stopped, the network between
// the devices failed) would otherwise hang the wait for ever. After
// SetGroupTimeout(d), a wait that lasts more than d while the backend is
// in a group (or that its library reports failed) aborts the group and
// returns why; 0 waits for ever.
type GroupWatcher interface {
	DeviceGroup
	SetGroupTimeout(d time.Duration)
}

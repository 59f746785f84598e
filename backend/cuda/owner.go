package cuda

import "runtime"

// queueDepth is how many operations the caller may queue ahead of the
// owner thread before it blocks.
const queueDepth = 1024

// owner runs closures, in order, on one goroutine locked to an OS thread,
// on which the backend's CUDA context is current.
type owner struct {
	ops  chan func()
	done chan struct{}
}

// startOwner starts the thread and runs setup on it. When setup fails the
// thread ends and its error is returned.
func startOwner(setup func() error) (*owner, error) {
	o := &owner{ops: make(chan func(), queueDepth), done: make(chan struct{})}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(o.done)
		if err := setup(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range o.ops {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return o, nil
}

// enqueue queues f and returns at once.
func (o *owner) enqueue(f func()) { o.ops <- f }

// call runs f on the thread after everything queued before it, and
// returns its result.
func (o *owner) call(f func() error) error {
	reply := make(chan error, 1)
	o.ops <- func() { reply <- f() }
	return <-reply
}

// stop ends the thread once the queue is empty and waits for it.
func (o *owner) stop() {
	close(o.ops)
	<-o.done
}

package cpu

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// floats is a float32 buffer in host memory.
type floats []float32

func (f floats) Len() int             { return len(f) }
func (f floats) DType() backend.DType { return backend.Float32 }

// ints is an int32 buffer in host memory.
type ints []int32

func (i ints) Len() int             { return len(i) }
func (i ints) DType() backend.DType { return backend.Int32 }

// Backend runs every operation on the host's cores. It is the reference the
// other backends are tested against and the fallback when no accelerator is
// present.
type Backend struct {
	blas    blasImpl
	workers *pool
	closed  bool
	// partial is scratch for deterministic chunked reductions, lossTmp for
	// the logits of one row per chunk.
	partial []float64
	lossTmp []float64
}

var _ backend.Backend = (*Backend)(nil)

// New returns a CPU backend configured by opts (BLAS choice and threads).
func New(opts backend.Options) (*Backend, error) {
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	impl, err := selectBLAS(opts.BLAS, threads)
	if err != nil {
		return nil, err
	}
	return &Backend{blas: impl, workers: newPool(threads)}, nil
}

// BLASName says which matrix multiply the backend uses ("gonum" or
// "openblas") and with how many threads.
func (b *Backend) BLASName() string { return b.blas.Name() }

func init() {
	backend.Register(backend.Provider{
		Kind: backend.CPU,
		Devices: func(opts backend.Options) ([]backend.DeviceInfo, error) {
			b, err := New(opts)
			if err != nil {
				return nil, err
			}
			defer b.Close()
			return []backend.DeviceInfo{b.Info()}, nil
		},
		Open: func(d backend.Device, opts backend.Options) (backend.Backend, error) {
			return New(opts)
		},
	})
}

// Info describes the host.
func (b *Backend) Info() backend.DeviceInfo {
	return backend.DeviceInfo{
		Device: backend.Device{Kind: backend.CPU},
		Name:   fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()),
		Detail: fmt.Sprintf("BLAS %s; %d threads for the other operations", b.blas.Name(), b.workers.size()),
		CPU:    true,
	}
}

// Close stops the worker threads.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.workers.close()
	return nil
}

// Alloc returns a zeroed buffer.
func (b *Backend) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: Alloc of %d elements", n)
	}
	switch dt {
	case backend.Float32:
		f := make(floats, n)
		return &f, nil
	case backend.Int32:
		i := make(ints, n)
		return &i, nil
	}
	return nil, fmt.Errorf("cpu: Alloc of unknown type %v", dt)
}

// Upload wraps src without copying it.
func (b *Backend) Upload(src []float32) (backend.Buffer, error) {
	f := floats(src)
	return &f, nil
}

// Free drops the buffer; the garbage collector reclaims it.
func (b *Backend) Free(buf backend.Buffer) {}

func fbuf(buf backend.Buffer, op string) []float32 {
	f, ok := buf.(*floats)
	if !ok {
		panic(fmt.Sprintf("cpu: %s: %T is not a CPU float32 buffer", op, buf))
	}
	return *f
}

func ibuf(buf backend.Buffer, op string) []int32 {
	i, ok := buf.(*ints)
	if !ok {
		panic(fmt.Sprintf("cpu: %s: %T is not a CPU int32 buffer", op, buf))
	}
	return *i
}

func vec(v backend.Vec, op string) []float32 {
	v.Check(op, backend.Float32)
	return fbuf(v.Buf, op)[v.Off : v.Off+v.Len]
}

// mat returns the elements a view spans and its row stride (at least 1).
func mat(m backend.Mat, op string) ([]float32, int) {
	m.Check(op, backend.Float32)
	return fbuf(m.Buf, op)[m.Off : m.Off+m.Span()], max(m.Stride, m.Cols, 1)
}

// WriteFloat32 copies src into dst.
func (b *Backend) WriteFloat32(dst backend.Buffer, off int, src []float32) {
	d := fbuf(dst, "WriteFloat32")
	if off < 0 || off+len(src) > len(d) {
		panic(fmt.Sprintf("cpu: WriteFloat32 of %d at %d into %d", len(src), off, len(d)))
	}
	copy(d[off:], src)
}

// WriteInt32 copies src into dst.
func (b *Backend) WriteInt32(dst backend.Buffer, off int, src []int32) {
	d := ibuf(dst, "WriteInt32")
	if off < 0 || off+len(src) > len(d) {
		panic(fmt.Sprintf("cpu: WriteInt32 of %d at %d into %d", len(src), off, len(d)))
	}
	copy(d[off:], src)
}

var errClosed = errors.New("cpu: backend is closed")

// ReadFloat32 copies from src into dst.
func (b *Backend) ReadFloat32(dst []float32, src backend.Buffer, off int) error {
	if b.closed {
		return errClosed
	}
	s := fbuf(src, "ReadFloat32")
	if off < 0 || off+len(dst) > len(s) {
		return fmt.Errorf("cpu: ReadFloat32 of %d at %d from buffer of %d", len(dst), off, len(s))
	}
	copy(dst, s[off:])
	return nil
}

// ReadInt32 copies from src into dst.
func (b *Backend) ReadInt32(dst []int32, src backend.Buffer, off int) error {
	if b.closed {
		return errClosed
	}
	s := ibuf(src, "ReadInt32")
	if off < 0 || off+len(dst) > len(s) {
		return fmt.Errorf("cpu: ReadInt32 of %d at %d from buffer of %d", len(dst), off, len(s))
	}
	copy(dst, s[off:])
	return nil
}

// Sync returns nil: every operation has finished when it returns.
func (b *Backend) Sync() error {
	if b.closed {
		return errClosed
	}
	return nil
}

package cuda

import (
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// BenchmarkFakeLaunch measures what the host spends per queued kernel
// launch (planning, the queue to the owner thread, the call into the
// driver), on the stand-in driver told to skip the kernels.
func BenchmarkFakeLaunch(b *testing.B) {
	useFake(b).setting(b, "skip_kernels", 1)
	be, err := New(0, backend.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	buf, err := be.Alloc(backend.Float32, 1)
	if err != nil {
		b.Fatal(err)
	}
	x := backend.Whole(buf)
	b.ResetTimer()
	for i := range b.N {
		be.Scale(x, 1)
		if i%1000 == 999 {
			be.Sync()
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}

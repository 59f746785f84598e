package cuda

import (
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// BenchmarkFakeLaunch measures what the host spends per queued kernel
// launch (planning, the queue to the owner thread, the call into the
// driver), on the fake driver, whose launches cost almost nothing.
func BenchmarkFakeLaunch(b *testing.B) {
	useFake(b)
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

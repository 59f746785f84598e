package opencl

import (
	"errors"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// TestNotBuiltMessage checks that the error of a binary built without the
// opencl tag tells the user how to rebuild, and, in such a build, that
// listing and opening devices return it.
func TestNotBuiltMessage(t *testing.T) {
	msg := errNotBuilt.Error()
	for _, want := range []string{"without OpenCL", "-tags opencl", "make build"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
	found := false
	for _, l := range backend.List(backend.Options{}) {
		if l.Kind != backend.OpenCL {
			continue
		}
		found = true
		switch {
		case built && errors.Is(l.Err, errNotBuilt):
			t.Errorf("a build with the opencl tag lists the stub's error %v", l.Err)
		case !built && (!errors.Is(l.Err, errNotBuilt) || len(l.Devices) != 0):
			t.Errorf("listing: %v devices, error %v; want none and %v", l.Devices, l.Err, errNotBuilt)
		}
	}
	if !found {
		t.Error("the OpenCL provider is not registered")
	}
	if built {
		return // the stub is not compiled in
	}
	d := backend.Device{Kind: backend.OpenCL}
	if _, _, err := backend.Open(d, backend.Options{}); err == nil || !strings.Contains(err.Error(), "-tags opencl") {
		t.Errorf("Open(%s) = %v, want the rebuild message", d, err)
	}
}

package backend

import (
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Device
		str  string
	}{
		{"auto", Device{Kind: Auto}, "auto"},
		{"cpu", Device{Kind: CPU}, "cpu"},
		{"CPU", Device{Kind: CPU}, "cpu"},
		{"cuda", Device{Kind: CUDA}, "cuda:0"},
		{"cuda:3", Device{Kind: CUDA, Index: 3}, "cuda:3"},
		{"opencl", Device{Kind: OpenCL}, "opencl:0:0"},
		{"opencl:1", Device{Kind: OpenCL, Index: 1}, "opencl:1:0"},
		{"opencl:1:2", Device{Kind: OpenCL, Index: 1, Sub: 2}, "opencl:1:2"},
		{"OpenCL:0:07", Device{Kind: OpenCL, Sub: 7}, "opencl:0:7"},
	} {
		got, err := ParseDevice(c.in)
		if err != nil {
			t.Errorf("ParseDevice(%q): %v", c.in, err)
			continue
		}
		if got != c.want || got.String() != c.str {
			t.Errorf("ParseDevice(%q) = %+v (%s), want %+v (%s)", c.in, got, got, c.want, c.str)
		}
	}
	for _, in := range []string{"", "gpu", "cuda:", "cuda:-1", "cuda:+1", "cuda:1:2", "cpu:0", "auto:1", "opencl:0:0:0", "cuda: 1", " cpu", "cuda:99999999999999999999", "cuda:65536", "opencl::1"} {
		if d, err := ParseDevice(in); err == nil {
			t.Errorf("ParseDevice(%q) = %v, want an error", in, d)
		} else if !strings.Contains(err.Error(), "auto, cpu, cuda[:N] or opencl[:P[:D]]") {
			t.Errorf("ParseDevice(%q) error %q does not list the forms", in, err)
		}
	}
}

func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"auto", "cpu", "cuda:1", "opencl:2:3", "opencl:", "cuda:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDevice(s)
		if err != nil {
			return
		}
		// The canonical string parses back to the same device and is its
		// own canonical form.
		again, err := ParseDevice(d.String())
		if err != nil || again != d || again.String() != d.String() {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, d.String(), again, err)
		}
	})
}

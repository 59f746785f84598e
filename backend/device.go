package backend

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is a family of devices served by one backend package.
type Kind int

const (
	// Auto picks the best device present: a CUDA GPU, then an OpenCL GPU or
	// accelerator, then the CPU.
	Auto Kind = iota
	// CPU is the host's cores through the CPU backend.
	CPU
	// CUDA is an NVIDIA GPU through the CUDA driver.
	CUDA
	// OpenCL is an OpenCL device (platform, device).
	OpenCL
)

var kindNames = [...]string{"auto", "cpu", "cuda", "opencl"}

// String returns "auto", "cpu", "cuda" or "opencl".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// maxIndex bounds device indices so that parsed values stay sane.
const maxIndex = 1 << 16

// Device names one device. Index is the CUDA ordinal or the OpenCL
// platform; Sub is the OpenCL device within its platform. Both are 0 for
// auto and cpu.
type Device struct {
	Kind  Kind
	Index int
	Sub   int
}

// String returns the canonical device string: "auto", "cpu", "cuda:N" or
// "opencl:P:D". ParseDevice(d.String()) returns d.
func (d Device) String() string {
	switch d.Kind {
	case CUDA:
		return fmt.Sprintf("cuda:%d", d.Index)
	case OpenCL:
		return fmt.Sprintf("opencl:%d:%d", d.Index, d.Sub)
	}
	return d.Kind.String()
}

// ParseDevice parses a device string: auto, cpu, cuda[:N] or
// opencl[:P[:D]] (case-insensitive; omitted indices are 0).
func ParseDevice(s string) (Device, error) {
	parts := strings.Split(strings.ToLower(s), ":")
	bad := func(why string) (Device, error) {
		return Device{}, fmt.Errorf("invalid device %q: %s (want auto, cpu, cuda[:N] or opencl[:P[:D]])", s, why)
	}
	var d Device
	maxParts := 1
	switch parts[0] {
	case "auto":
		d.Kind = Auto
	case "cpu":
		d.Kind = CPU
	case "cuda":
		d.Kind, maxParts = CUDA, 2
	case "opencl":
		d.Kind, maxParts = OpenCL, 3
	default:
		return bad("unknown backend")
	}
	if len(parts) > maxParts {
		return bad("too many indices")
	}
	for i, p := range parts[1:] {
		n, err := parseIndex(p)
		if err != nil {
			return bad(err.Error())
		}
		if i == 0 {
			d.Index = n
		} else {
			d.Sub = n
		}
	}
	return d, nil
}

// parseIndex accepts a plain decimal number without sign.
func parseIndex(p string) (int, error) {
	if p == "" {
		return 0, fmt.Errorf("empty index")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("index %q is not a number", p)
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n >= maxIndex {
		return 0, fmt.Errorf("index %q is too large", p)
	}
	return n, nil
}

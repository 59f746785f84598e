package backend

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Options carries the settings a program passes to backends. Library code
// reads no environment: cmd/mtl-gpu fills this from flags.
type Options struct {
	// BLAS selects the CPU backend's matrix multiply: "" or "auto" (OpenBLAS
	// when it can be loaded, else pure Go), "gonum" or "openblas".
	BLAS string
	// Threads is the CPU backend's thread count; 0 means GOMAXPROCS.
	Threads int
	// CUBLAS is a path to the cuBLAS library to load instead of searching
	// the usual names.
	CUBLAS string
	// TF32 lets cuBLAS use TF32 tensor cores for float32 GEMM (faster, about
	// 10 bits of mantissa).
	TF32 bool
}

// Provider is what a backend package registers: the devices it offers and
// how to open one.
type Provider struct {
	// Kind is the device family this provider serves.
	Kind Kind
	// Devices lists the devices present. An error says why none can be
	// listed (a missing driver, a binary built without the backend); an
	// empty list with a nil error means none are present.
	Devices func(opts Options) ([]DeviceInfo, error)
	// Open opens one of the devices Devices lists.
	Open func(d Device, opts Options) (Backend, error)
}

var (
	registryMu sync.Mutex
	registry   = map[Kind]Provider{}
)

// Register makes a provider available. It panics when called twice for the
// same kind or with an incomplete provider, as database/sql.Register does:
// both are programming errors found at start-up.
func Register(p Provider) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if p.Kind == Auto || p.Devices == nil || p.Open == nil {
		panic(fmt.Sprintf("backend: Register: incomplete provider for %s", p.Kind))
	}
	if _, dup := registry[p.Kind]; dup {
		panic(fmt.Sprintf("backend: Register called twice for %s", p.Kind))
	}
	registry[p.Kind] = p
}

func provider(k Kind) (Provider, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	p, ok := registry[k]
	return p, ok
}

// Kinds returns the kinds registered in this binary, in the order auto
// tries them (CPU last).
func Kinds() []Kind {
	registryMu.Lock()
	defer registryMu.Unlock()
	var ks []Kind
	for k := range registry {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b Kind) int { return autoRank(a) - autoRank(b) })
	return ks
}

func autoRank(k Kind) int {
	switch k {
	case CUDA:
		return 0
	case OpenCL:
		return 1
	case CPU:
		return 2
	}
	return 3
}

// Listing is the result of asking one provider for its devices.
type Listing struct {
	Kind    Kind
	Devices []DeviceInfo
	// Err says why the provider could not list devices, or is nil.
	Err error
}

// List asks every registered provider for its devices, in auto order, each
// list sorted by device index.
func List(opts Options) []Listing {
	var out []Listing
	for _, k := range Kinds() {
		p, _ := provider(k)
		devs, err := p.Devices(opts)
		devs = slices.Clone(devs)
		slices.SortFunc(devs, func(a, b DeviceInfo) int {
			if a.Device.Index != b.Device.Index {
				return a.Device.Index - b.Device.Index
			}
			return a.Device.Sub - b.Device.Sub
		})
		out = append(out, Listing{Kind: k, Devices: devs, Err: err})
	}
	return out
}

// Resolve turns a device into a concrete one. For Auto it picks a CUDA
// GPU, then an OpenCL device that is not a CPU, then the CPU backend (an
// OpenCL CPU device such as PoCL is used only when named, since the CPU
// backend is faster on the same cores), and returns one line that says what
// it chose and why it skipped the others. For any other device it checks
// that the device exists and returns an error naming the devices that do.
func Resolve(d Device, opts Options) (Device, string, error) {
	if d.Kind != Auto {
		p, ok := provider(d.Kind)
		if !ok {
			return Device{}, "", fmt.Errorf("device %s: this binary has no %s backend (it has: %s)", d, d.Kind, kindList())
		}
		devs, err := p.Devices(opts)
		if err != nil {
			return Device{}, "", fmt.Errorf("device %s: %w", d, err)
		}
		for _, info := range devs {
			if info.Device == d {
				return d, "", nil
			}
		}
		if len(devs) == 0 {
			return Device{}, "", fmt.Errorf("device %s: no %s devices present", d, d.Kind)
		}
		names := make([]string, len(devs))
		for i, info := range devs {
			names[i] = info.Device.String()
		}
		return Device{}, "", fmt.Errorf("device %s does not exist (%s devices: %s)", d, d.Kind, strings.Join(names, ", "))
	}
	var skipped []string
	for _, l := range List(opts) {
		if l.Err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", l.Kind, l.Err))
			continue
		}
		for _, info := range l.Devices {
			if info.CPU && l.Kind != CPU {
				skipped = append(skipped, fmt.Sprintf("%s is a CPU device (%s)", info.Device, info.Name))
				continue
			}
			why := fmt.Sprintf("auto chose %s (%s)", info.Device, info.Name)
			if len(skipped) > 0 {
				why += "; skipped " + strings.Join(skipped, "; ")
			}
			return info.Device, why, nil
		}
		if len(l.Devices) == 0 {
			skipped = append(skipped, fmt.Sprintf("%s: no devices", l.Kind))
		}
	}
	return Device{}, "", errors.New("auto found no usable device: " + strings.Join(skipped, "; "))
}

// Open resolves d (see Resolve) and opens it. The returned line says what
// auto chose and why; it is empty for a named device.
func Open(d Device, opts Options) (Backend, string, error) {
	rd, why, err := Resolve(d, opts)
	if err != nil {
		return nil, "", err
	}
	p, _ := provider(rd.Kind)
	b, err := p.Open(rd, opts)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", rd, err)
	}
	return b, why, nil
}

func kindList() string {
	var names []string
	for _, k := range Kinds() {
		names = append(names, k.String())
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

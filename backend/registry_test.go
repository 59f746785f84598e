package backend

import (
	"errors"
	"strings"
	"testing"
)

// withRegistry runs f with the registry replaced by providers.
func withRegistry(t *testing.T, providers ...Provider) {
	registryMu.Lock()
	saved := registry
	registry = map[Kind]Provider{}
	registryMu.Unlock()
	t.Cleanup(func() {
		registryMu.Lock()
		registry = saved
		registryMu.Unlock()
	})
	for _, p := range providers {
		Register(p)
	}
}

// fakeProvider lists devs (or fails with err) and opens nothing.
func fakeProvider(k Kind, err error, devs ...DeviceInfo) Provider {
	return Provider{
		Kind:    k,
		Devices: func(Options) ([]DeviceInfo, error) { return devs, err },
		Open:    func(d Device, _ Options) (Backend, error) { return nil, errors.New("fake: " + d.String()) },
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	withRegistry(t, fakeProvider(CPU, nil))
	defer func() {
		if recover() == nil {
			t.Fatal("registering cpu twice did not panic")
		}
	}()
	Register(fakeProvider(CPU, nil))
}

func TestResolveAuto(t *testing.T) {
	cpu := DeviceInfo{Device: Device{Kind: CPU}, Name: "host", CPU: true}
	pocl := DeviceInfo{Device: Device{Kind: OpenCL}, Name: "pocl", CPU: true}
	gpu := DeviceInfo{Device: Device{Kind: OpenCL, Sub: 1}, Name: "some GPU"}
	noDriver := errors.New("no NVIDIA driver found")

	withRegistry(t, fakeProvider(CPU, nil, cpu), fakeProvider(OpenCL, nil, pocl), fakeProvider(CUDA, noDriver))
	d, why, err := Resolve(Device{Kind: Auto}, Options{})
	if err != nil || d != cpu.Device {
		t.Fatalf("auto with only PoCL and the CPU chose %v, %v", d, err)
	}
	for _, want := range []string{"auto chose cpu", "cuda: no NVIDIA driver found", "opencl:0:0 is a CPU device"} {
		if !strings.Contains(why, want) {
			t.Errorf("auto's reason %q lacks %q", why, want)
		}
	}
	// A named CPU-type OpenCL device is used.
	if d, _, err := Resolve(pocl.Device, Options{}); err != nil || d != pocl.Device {
		t.Errorf("opencl:0:0 by name: %v, %v", d, err)
	}

	withRegistry(t, fakeProvider(CPU, nil, cpu), fakeProvider(OpenCL, nil, pocl, gpu))
	if d, _, _ := Resolve(Device{Kind: Auto}, Options{}); d != gpu.Device {
		t.Errorf("auto chose %v over an OpenCL GPU", d)
	}
}

func TestResolveErrors(t *testing.T) {
	cpu := DeviceInfo{Device: Device{Kind: CPU}, Name: "host", CPU: true}
	withRegistry(t, fakeProvider(CPU, nil, cpu), fakeProvider(OpenCL, nil, DeviceInfo{Device: Device{Kind: OpenCL}}, DeviceInfo{Device: Device{Kind: OpenCL, Sub: 1}}),
		fakeProvider(CUDA, errors.New("no NVIDIA driver found")))
	for _, c := range []struct {
		dev  Device
		want string
	}{
		{Device{Kind: OpenCL, Index: 0, Sub: 5}, "opencl:0:5 does not exist (opencl devices: opencl:0:0, opencl:0:1)"},
		{Device{Kind: CUDA, Index: 1}, "cuda:1: no NVIDIA driver found"},
	} {
		_, _, err := Resolve(c.dev, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%v) = %v, want %q", c.dev, err, c.want)
		}
	}
	withRegistry(t, fakeProvider(CPU, nil, cpu))
	if _, _, err := Resolve(Device{Kind: CUDA}, Options{}); err == nil || !strings.Contains(err.Error(), "this binary has no cuda backend (it has: cpu)") {
		t.Errorf("missing backend: %v", err)
	}
	if _, _, err := Open(Device{Kind: CPU}, Options{}); err == nil || !strings.Contains(err.Error(), "open cpu: fake") {
		t.Errorf("Open passes on the provider's error: %v", err)
	}
}

func TestListSorted(t *testing.T) {
	withRegistry(t,
		fakeProvider(CPU, nil, DeviceInfo{Device: Device{Kind: CPU}}),
		fakeProvider(OpenCL, nil, DeviceInfo{Device: Device{Kind: OpenCL, Index: 1}}, DeviceInfo{Device: Device{Kind: OpenCL, Sub: 2}}, DeviceInfo{Device: Device{Kind: OpenCL}}),
		fakeProvider(CUDA, nil))
	var got []string
	for _, l := range List(Options{}) {
		got = append(got, l.Kind.String())
		for _, d := range l.Devices {
			got = append(got, d.Device.String())
		}
	}
	if want := "cuda opencl opencl:0:0 opencl:0:2 opencl:1:0 cpu cpu"; strings.Join(got, " ") != want {
		t.Errorf("List order %q, want %q", strings.Join(got, " "), want)
	}
}

package cu

import (
	"runtime"
	"strings"
	"unsafe"
)

// The CUjit_option codes of the compiler's error log.
const (
	jitErrorLogBuffer          int32 = 5
	jitErrorLogBufferSizeBytes int32 = 6
)

// jitLogBytes is the size of the buffer for the PTX compiler's errors.
const jitLogBytes = 16 << 10

// ModuleLoadData loads a module from a PTX (or cubin) image into the
// current context; the driver compiles PTX for the device. When it fails,
// the *Error carries the compiler's log.
func (d *Driver) ModuleLoadData(image []byte) (Module, error) {
	// PTX is text and must end with a NUL.
	img := make([]byte, len(image), len(image)+1)
	copy(img, image)
	if len(img) == 0 || img[len(img)-1] != 0 {
		img = append(img, 0)
	}
	log := make([]byte, jitLogBytes)
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&log[0])
	options := []int32{jitErrorLogBuffer, jitErrorLogBufferSizeBytes}
	// Each option value is pointer-sized: the log's address, then its size
	// itself (not a pointer to it).
	values := []uintptr{uintptr(unsafe.Pointer(&log[0])), uintptr(len(log))}
	var m Module
	r := d.cuModuleLoadDataEx(&m, unsafe.Pointer(&img[0]), uint32(len(options)), &options[0], &values[0])
	runtime.KeepAlive(img)
	runtime.KeepAlive(log)
	if err := d.check("cuModuleLoadDataEx", r); err != nil {
		msg, _, _ := strings.Cut(string(log), "\x00")
		err.(*Error).Log = strings.TrimSpace(msg)
		return 0, err
	}
	return m, nil
}

// ModuleUnload unloads a module.
func (d *Driver) ModuleUnload(m Module) error {
	return d.check("cuModuleUnload", d.cuModuleUnload(m))
}

// ModuleGetFunction returns the kernel of a module by its (unmangled)
// name.
func (d *Driver) ModuleGetFunction(m Module, name string) (Function, error) {
	var f Function
	if err := d.check("cuModuleGetFunction", d.cuModuleGetFunction(&f, m, name)); err != nil {
		err.(*Error).Func += "(" + name + ")"
		return 0, err
	}
	return f, nil
}

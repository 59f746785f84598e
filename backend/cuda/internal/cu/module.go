package cu

import (
	"runtime"
	"strings"
	"unsafe"
)

// The CUjit_option codes of the compiler's logs.
const (
	jitInfoLogBuffer           int32 = 3
	jitInfoLogBufferSizeBytes  int32 = 4
	jitErrorLogBuffer          int32 = 5
	jitErrorLogBufferSizeBytes int32 = 6
	jitLogVerbose              int32 = 12
)

// jitLogBytes is the size of each buffer for the PTX compiler's logs.
const jitLogBytes = 16 << 10

// ModuleLoadData loads a module from a PTX (or cubin) image into the
// current context; the driver compiles PTX for the device. It returns the
// compiler's information log, verbose (registers and spills of each
// kernel, with the driver's ptxas). When it fails, the *Error carries the
// compiler's error log.
func (d *Driver) ModuleLoadData(image []byte) (Module, string, error) {
	// PTX is text and must end with a NUL.
	img := make([]byte, len(image), len(image)+1)
	copy(img, image)
	if len(img) == 0 || img[len(img)-1] != 0 {
		img = append(img, 0)
	}
	info := make([]byte, jitLogBytes)
	errs := make([]byte, jitLogBytes)
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&info[0])
	pin.Pin(&errs[0])
	options := []int32{jitInfoLogBuffer, jitInfoLogBufferSizeBytes, jitErrorLogBuffer, jitErrorLogBufferSizeBytes, jitLogVerbose}
	// Each option value is pointer-sized: a log's address, then its size
	// itself (not a pointer to it), which the driver replaces by the
	// length of the log; verbose is the value 1.
	values := []uintptr{uintptr(unsafe.Pointer(&info[0])), uintptr(len(info)),
		uintptr(unsafe.Pointer(&errs[0])), uintptr(len(errs)), 1}
	var m Module
	r := d.cuModuleLoadDataEx(&m, unsafe.Pointer(&img[0]), uint32(len(options)), &options[0], &values[0])
	runtime.KeepAlive(img)
	if err := d.check("cuModuleLoadDataEx", r); err != nil {
		err.(*Error).Log = cString(errs)
		return 0, cString(info), err
	}
	return m, cString(info), nil
}

// cString is the text of a NUL-terminated buffer, trimmed.
func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return strings.TrimSpace(s)
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

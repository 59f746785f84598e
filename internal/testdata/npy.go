package testdata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
)

// WriteNpy writes a NumPy .npy file as numpy.save does (version 1.0, the
// header padded with spaces to a multiple of 64 bytes), with the dtype
// descr ("<f8" or "<f4") and the shape as written in the header ("100, 3"),
// and the values in C order.
func WriteNpy(t testing.TB, path, descr, shape string, values []float64) {
	t.Helper()
	WriteNpyOrder(t, path, descr, false, shape, values)
}

// WriteNpyOrder is WriteNpy with the header's fortran_order given: the
// values are written as given either way, so a Fortran-ordered file
// holds them column after column.
func WriteNpyOrder(t testing.TB, path, descr string, fortran bool, shape string, values []float64) {
	t.Helper()
	order := "False"
	if fortran {
		order = "True"
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }", descr, order, shape)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	for _, v := range values {
		if descr == "<f4" {
			binary.Write(&b, binary.LittleEndian, float32(v))
		} else {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

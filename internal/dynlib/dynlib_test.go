package dynlib

import (
	"errors"
	"testing"
)

func TestReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errors.New("libx.so: cannot open shared object file"), "libx.so: cannot open shared object file"},
		{errors.New("undefined symbol: y"), "libx.so: undefined symbol: y"},
		{errors.New("  "), "libx.so: dlopen failed"},
	} {
		if got := Reason("libx.so", c.err, "dlopen failed"); got != c.want {
			t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

package profile_test

import (
	"reflect"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/backend/profile"
)

// TestTransparent: the wrapper computes exactly what the backend does.
func TestTransparent(t *testing.T) {
	b, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := profile.Wrap(b)
	backendtest.Run(t, p)
	ops := map[string]profile.Op{}
	for _, o := range p.Ops() {
		ops[o.Name] = o
	}
	// Every operation of the interface but memory, transfers and
	// synchronisation is timed: one the wrapper does not override would
	// run unseen and leave a hole in the profile.
	untimed := map[string]bool{"Info": true, "Close": true, "Alloc": true, "Upload": true, "Free": true,
		"WriteFloat32": true, "WriteInt32": true, "ReadFloat32": true, "ReadInt32": true, "Sync": true}
	iface := reflect.TypeFor[backend.Backend]()
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		if !untimed[name] && ops[name].Calls == 0 {
			t.Errorf("%s was not counted", name)
		}
	}
	if ops["Gemm"].Flops <= 0 || ops["LossGrad"].Flops != 0 {
		t.Errorf("flops: Gemm %g, LossGrad %g", ops["Gemm"].Flops, ops["LossGrad"].Flops)
	}
	if err := p.Err(); err != nil {
		t.Error(err)
	}
}

func TestFlops(t *testing.T) {
	b, _ := cpu.New(backend.Options{BLAS: "gonum"})
	defer b.Close()
	p := profile.Wrap(b)
	buf, _ := b.Alloc(backend.Float32, 7*5+5*3+7*3)
	a := backend.Dense(buf, 0, 7, 5)
	m := backend.Dense(buf, 35, 5, 3)
	c := backend.Dense(buf, 50, 7, 3)
	p.Gemm(false, false, 1, a, m, 0, c)
	p.Enabled = false
	p.Gemm(false, false, 1, a, m, 0, c)
	ops := p.Ops()
	if len(ops) != 1 || ops[0].Calls != 1 || ops[0].Flops != 2*7*5*3 {
		t.Errorf("got %+v, want one call of %d flops", ops, 2*7*5*3)
	}
}

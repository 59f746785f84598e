package stream

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

func TestDefaultBudget(t *testing.T) {
	t.Parallel()
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:       16777216 kB\nMemFree:  1000 kB\n")}
	for _, c := range []struct {
		name  string
		files fstest.MapFS
		bytes int64
		from  string
	}{
		{"physical memory", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/\n")}, "sys/fs/cgroup/memory.max": {Data: []byte("max\n")}},
			8 << 30, "half of the 16 GiB of physical memory"},
		{"cgroup v2 limit", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/user.slice/job\n")},
			"sys/fs/cgroup/user.slice/job/memory.max": {Data: []byte("4294967296\n")}},
			2 << 30, "half of the cgroup's memory limit of 4 GiB"},
		{"cgroup v2 parent's limit", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/a/b\n")},
			"sys/fs/cgroup/a/b/memory.max": {Data: []byte("max\n")}, "sys/fs/cgroup/a/memory.max": {Data: []byte("1073741824\n")}},
			512 << 20, "half of the cgroup's memory limit of 1 GiB"},
		{"cgroup v1 limit", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n")},
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": {Data: []byte("2147483648\n")}},
			1 << 30, "half of the cgroup's memory limit of 2 GiB"},
		{"cgroup v1 without a limit", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("4:memory:/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}},
			8 << 30, "half of the 16 GiB of physical memory"},
		{"limit above physical memory", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("34359738368\n")}},
			8 << 30, "half of the 16 GiB of physical memory"},
		{"nothing known", fstest.MapFS{}, 4 << 30, "half of an assumed 8 GiB: this system does not say how much memory it has"},
	} {
		got := budgetFrom(c.files)
		if got.Bytes != c.bytes || got.From != c.from {
			t.Errorf("%s: %+v, want %d bytes, %q", c.name, got, c.bytes, c.from)
		}
	}
	if b := DefaultBudget(); b.Bytes <= 0 || b.From == "" {
		t.Errorf("this machine: %+v", b)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"123": 123, "512K": 512 << 10, "512kb": 512 << 10, "1.5G": 3 << 29, "2GiB": 2 << 30,
		" 8 M ": 8 << 20, "1T": 1 << 40, "100B": 100} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "1X", "-1G", "0", "0x10", "1e30T", "NaN", "1_000"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "memory size") {
			t.Errorf("ParseSize(%q): %v does not name the quantity", in, err)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 3 << 29: "1.5 GiB", 8 << 20: "8 MiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	budget := Budget{Bytes: 1000, From: "given"}
	small := Need{Rows: 10, RowBytes: 8, ModelBytes: 100}  // 180 bytes
	large := Need{Rows: 100, RowBytes: 8, ModelBytes: 500} // 1300 bytes
	pipe := errors.New("x.csv is not a regular file (a pipe?)")
	for _, c := range []struct {
		name   string
		need   Need
		mode   Mode
		pipe   error
		stream bool
		says   string // in the reason, or the error
		err    bool
	}{
		{"fits", small, Auto, nil, false, "training in memory", false},
		{"does not fit", large, Auto, nil, true, "streaming the training data: the 100 rows encoded (8 B a row) and the model of 0 parameters need about 1.3 KiB, more than the memory budget of 1000 B (given)", false},
		{"asked", small, Always, nil, true, "streaming the training data, as asked", false},
		{"forbidden, fits", small, Never, nil, false, "training in memory", false},
		{"forbidden, does not fit", large, Never, nil, false, "more than the memory budget of 1000 B (given), and streaming is off", true},
		{"pipe that fits", small, Auto, pipe, false, "training in memory", false},
		{"pipe that does not fit", large, Auto, pipe, false, "cannot be streamed: x.csv is not a regular file", true},
		{"pipe asked to stream", small, Always, pipe, false, "x.csv is not a regular file", true},
	} {
		d, err := Decide(c.need, budget, c.mode, c.pipe)
		msg := d.Reason
		if err != nil {
			msg = err.Error()
		}
		if (err != nil) != c.err || d.Stream != c.stream || !strings.Contains(msg, c.says) {
			t.Errorf("%s: stream %v, %q, error %v; want stream %v, %q", c.name, d.Stream, d.Reason, err, c.stream, c.says)
		}
	}
}

// TestEstimate checks the estimate against the rows a run holds: the
// encoded row is what an in-memory run's data set takes a row, and the
// parameters are the model's.
func TestEstimate(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 500, 4, 7)
	mem := inMemory(t, openCSV(t, path, 1<<20), fitOptions(t), 0.1, 3)
	res := mem.res
	spec := specOf(res.Schema, 8)
	cfg := mtl.DefaultConfig()
	n := Estimate(res, spec, cfg, true)
	held := int64(0)
	enc := mem.all
	held += 4 * int64(len(enc.X)+len(enc.Groups))
	for _, ix := range enc.Index {
		held += 4 * int64(len(ix))
	}
	for _, l := range enc.Labels {
		held += 4 * int64(len(l))
	}
	if n.Rows != 500 || n.Rows*n.RowBytes != held {
		t.Errorf("estimate %d rows of %d bytes, the run holds %d bytes", n.Rows, n.RowBytes, held)
	}
	model, err := mtl.NewModel(spec, mem.train, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if n.Params != int64(model.NumParams()) || n.ModelBytes < 6*4*n.Params || n.DeviceRowBytes <= 4*int64(res.Schema.Dim()) || n.FitRowBytes != 9 {
		t.Errorf("estimate %+v for a model of %d parameters", n, model.NumParams())
	}
	if Estimate(res, spec, cfg, false).DeviceRowBytes != 0 {
		t.Error("a device apart from the host counts host memory")
	}
}

package stream

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
)

// Budget is an amount of memory a run may take, and where it comes from.
type Budget struct {
	// Bytes is the amount.
	Bytes int64
	// From says how it was found, for the line a run prints (for example
	// "half of the cgroup's memory limit of 4 GiB").
	From string
}

// String gives the budget as a run prints it: "2 GiB (half of …)".
func (b Budget) String() string {
	if b.From == "" {
		return FormatSize(b.Bytes)
	}
	return FormatSize(b.Bytes) + " (" + b.From + ")"
}

// fallbackMemory is the memory assumed where the system does not say.
const fallbackMemory = 8 << 30

// DefaultBudget returns half of the memory the process may use: half of
// the physical memory (Linux's /proc/meminfo), or of the memory limit of
// its cgroup where that is lower (cgroup v2 memory.max, v1
// memory.limit_in_bytes, of its own cgroup and every parent). Where the
// system says neither it assumes 8 GiB of memory.
func DefaultBudget() Budget {
	return budgetFrom(os.DirFS("/"))
}

// budgetFrom is DefaultBudget on a file system rooted at "/".
func budgetFrom(root fs.FS) Budget {
	phys, physOK := memTotal(root)
	limit, limitOK := cgroupLimit(root)
	switch {
	case limitOK && (!physOK || limit < phys):
		return Budget{Bytes: limit / 2, From: "half of the cgroup's memory limit of " + FormatSize(limit)}
	case physOK:
		return Budget{Bytes: phys / 2, From: "half of the " + FormatSize(phys) + " of physical memory"}
	}
	return Budget{Bytes: fallbackMemory / 2, From: "half of an assumed " + FormatSize(fallbackMemory) + ": this system does not say how much memory it has"}
}

// memTotal reads MemTotal from /proc/meminfo.
func memTotal(root fs.FS) (int64, bool) {
	b, err := fs.ReadFile(root, "proc/meminfo")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// cgroupLimit returns the lowest memory limit of the process's cgroup and
// its parents, from /proc/self/cgroup: the v2 hierarchy ("0::/path",
// memory.max, "max" for none) and the v1 memory controller
// ("N:memory:/path", memory.limit_in_bytes, a huge number for none).
func cgroupLimit(root fs.FS) (int64, bool) {
	b, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	best, found := int64(math.MaxInt64), false
	try := func(dir, file string) {
		for {
			if v, ok := readLimit(root, path.Join(dir, file)); ok && v < best {
				best, found = v, true
			}
			if dir == "sys/fs/cgroup" || dir == "sys/fs/cgroup/memory" || dir == "." || dir == "/" {
				return
			}
			dir = path.Dir(dir)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		rel := strings.TrimPrefix(path.Clean("/"+parts[2]), "/")
		switch {
		case parts[0] == "0" && parts[1] == "":
			try(path.Join("sys/fs/cgroup", rel), "memory.max")
		case hasController(parts[1], "memory"):
			try(path.Join("sys/fs/cgroup/memory", rel), "memory.limit_in_bytes")
		}
	}
	return best, found
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a limit file: a number of bytes, or "max" (none). A v1
// limit of 2⁶² or more is no limit either.
func readLimit(root fs.FS, name string) (int64, bool) {
	b, err := fs.ReadFile(root, name)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v >= 1<<62 {
		return 0, false
	}
	return v, true
}

// ParseSize reads an amount of memory: a number of bytes with an optional
// suffix K, M, G or T (powers of 1024; "KB", "KiB" and lower case alike),
// such as "512M" or "1.5G".
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		if k := strings.IndexByte("KMGT", t[n-1]); k >= 0 {
			mult = 1 << (10 * (k + 1))
			t = strings.TrimSpace(t[:n-1])
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || strings.ContainsAny(t, "xXpP_") || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("memory size %q: want a number of bytes with an optional suffix K, M, G or T", s)
	}
	b := v * float64(mult)
	if b < 1 || b >= math.MaxInt64 {
		return 0, fmt.Errorf("memory size %q is out of range", s)
	}
	return int64(b), nil
}

// FormatSize writes an amount of memory for a person: "512 KiB",
// "1.5 GiB".
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, u := float64(n), 0
	for math.Abs(v) >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return strconv.FormatInt(n, 10) + " B"
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[u]
}

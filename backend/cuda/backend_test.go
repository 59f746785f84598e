package cuda

import "testing"

func TestFormatBLASVersion(t *testing.T) {
	for v, want := range map[int]string{120405: "12.4.5", 130101: "13.1.1", 110902: "11.9.2", 11605: "11.6.5", 11401: "11.4.1"} {
		if got := formatBLASVersion(v); got != want {
			t.Errorf("formatBLASVersion(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestMaxBlocks(t *testing.T) {
	if maxBlocksFor(132) != 2112 || maxBlocksFor(0) != 16 {
		t.Errorf("maxBlocksFor(132) = %d, maxBlocksFor(0) = %d", maxBlocksFor(132), maxBlocksFor(0))
	}
}

package fingerprint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// reference computes the fingerprint by its definition.
func reference(b []byte) Fingerprint {
	outer := sha256.New()
	for off := 0; off < len(b); off += ChunkSize {
		c := sha256.Sum256(b[off:min(off+ChunkSize, len(b))])
		outer.Write(c[:])
	}
	return Fingerprint{Size: int64(len(b)), SHA256: hex.EncodeToString(outer.Sum(nil))}
}

// TestSplitIndependent: the fingerprint is that of the definition, however
// the bytes are cut into writes, at and around chunk boundaries.
func TestSplitIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize + 17} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := reference(b)
		for _, piece := range []int{1 << 30, 1, 4096, ChunkSize - 3, 777777} {
			h := New()
			for off := 0; off < len(b); off += piece {
				h.Write(b[off:min(off+piece, len(b))])
			}
			if got := h.Sum(); got != want {
				t.Errorf("size %d in pieces of %d: %v, want %v", size, piece, got, want)
			}
		}
		// Sum does not disturb the hasher.
		h := New()
		h.Write(b[:size/2])
		h.Sum()
		h.Write(b[size/2:])
		if got := h.Sum(); got != want {
			t.Errorf("size %d with an early Sum: %v, want %v", size, got, want)
		}
	}
	if reference([]byte("a")) == reference([]byte("b")) {
		t.Error("different content, same fingerprint")
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.csv")
	content := bytes.Repeat([]byte("a,b\n1,2\n"), 300000)
	os.WriteFile(p, content, 0o644)
	fp, ok, err := File(p)
	if err != nil || !ok || fp != reference(content) {
		t.Fatalf("File = %v, %v, %v", fp, ok, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, ok, err := File("/dev/fd/" + strconv.Itoa(int(r.Fd()))); ok || err != nil {
		t.Errorf("a pipe: ok %v, err %v; want neither", ok, err)
	}
	if _, _, err := File(filepath.Join(dir, "none")); err == nil {
		t.Error("no error for a missing file")
	}
}

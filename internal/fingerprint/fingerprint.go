// Package fingerprint identifies a data file by its content: its size and
// a hash of the hashes of its fixed-size chunks,
//
//	hash = SHA-256( SHA-256(chunk₁) ‖ SHA-256(chunk₂) ‖ … )
//
// with chunks of ChunkSize bytes (the last may be shorter; an empty file
// has no chunk). The result depends on the bytes alone, never on how they
// were read: a Hasher may be fed by the pass that parses the file, in
// pieces of any size, and gives what File gives for the whole file. A
// model file stores the fingerprint of every data source of its run, so
// that a resumed run can check it trains on the same data.
package fingerprint

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
)

// ChunkSize is the size of the chunks whose hashes are hashed.
const ChunkSize = 1 << 20

// Fingerprint is a file's size and content hash (lower-case hex).
type Fingerprint struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256_of_1mib_chunks"`
}

// String formats the fingerprint for messages.
func (f Fingerprint) String() string {
	h := f.SHA256
	if len(h) > 12 {
		h = h[:12]
	}
	return fmt.Sprintf("%d bytes, hash %s", f.Size, h)
}

// Hasher computes a Fingerprint from the bytes written to it.
type Hasher struct {
	chunk hash.Hash // the current chunk
	fill  int       // bytes in the current chunk
	outer hash.Hash // the chunk hashes
	size  int64
}

// New returns an empty Hasher.
func New() *Hasher {
	return &Hasher{chunk: sha256.New(), outer: sha256.New()}
}

// Write adds p; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	h.size += int64(n)
	for len(p) > 0 {
		k := min(len(p), ChunkSize-h.fill)
		h.chunk.Write(p[:k])
		h.fill += k
		p = p[k:]
		if h.fill == ChunkSize {
			h.endChunk()
		}
	}
	return n, nil
}

func (h *Hasher) endChunk() {
	h.outer.Write(h.chunk.Sum(nil))
	h.chunk.Reset()
	h.fill = 0
}

// Sum returns the fingerprint of what was written so far; the Hasher may
// go on.
func (h *Hasher) Sum() Fingerprint {
	outer := h.outer
	if h.fill > 0 {
		// Hash the partial chunk into a copy of the outer hash.
		// SHA-256 digests marshal their state, and read it back.
		state, _ := outer.(encoding.BinaryMarshaler).MarshalBinary()
		c := sha256.New()
		c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
		c.Write(h.chunk.Sum(nil))
		outer = c
	}
	return Fingerprint{Size: h.size, SHA256: hex.EncodeToString(outer.Sum(nil))}
}

// Of reads r to its end and returns its fingerprint.
func Of(r io.Reader) (Fingerprint, error) {
	h := New()
	if _, err := io.Copy(h, r); err != nil {
		return Fingerprint{}, err
	}
	return h.Sum(), nil
}

// File returns the fingerprint of a regular file. ok is false, with no
// error, for something that cannot be read twice (a pipe, a terminal, a
// device): a fingerprint of it would consume what the run is to read.
func File(path string) (fp Fingerprint, ok bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return Fingerprint{}, false, err
	}
	if !st.Mode().IsRegular() {
		return Fingerprint{}, false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Fingerprint{}, false, err
	}
	defer f.Close()
	fp, err = Of(f)
	if err != nil {
		return Fingerprint{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return fp, true, nil
}

package mtl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
)

// A model file is
//
//	magic "MTLGPU\r\n" (8 bytes)
//	format version, uint32 little-endian
//	header length H, uint32 little-endian
//	header: H bytes of JSON (architecture, preprocessing, training
//	        configuration and progress, and the list of tensors)
//	tensors: float32 little-endian, in the order the header lists them
//	CRC-32C of everything before it, uint32 little-endian
//
// The JSON header makes the file self-describing; the checksum catches
// truncation and corruption before any of it is used.
const (
	fileMagic = "MTLGPU\r\n"
	// FileVersion is the model file format this build writes and the
	// newest it reads. Version 2 added the run record ("run", see
	// Checkpoint.Run); version 1 files load without one.
	FileVersion = 2
	// maxHeader bounds the header so that a corrupt length cannot ask for
	// gigabytes.
	maxHeader = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrNotModel is returned (wrapped) for a file that is not an mtl-gpu
// model, or is truncated or corrupt.
var ErrNotModel = errors.New("not a valid mtl-gpu model file")

type fileHeader struct {
	Format        string          `json:"format"`
	Spec          Spec            `json:"spec"`
	Config        Config          `json:"config"`
	State         State           `json:"state"`
	Preprocessing json.RawMessage `json:"preprocessing,omitempty"`
	Run           json.RawMessage `json:"run,omitempty"`
	Tensors       []tensorInfo    `json:"tensors"`
}

type tensorInfo struct {
	Name string `json:"name"`
	Len  int    `json:"len"`
}

// Save writes a checkpoint in the model file format. meta is stored as the
// header's "preprocessing" entry (how raw data becomes model inputs) and
// returned by Load unchanged.
func Save(w io.Writer, c *Checkpoint, meta json.RawMessage) error {
	h := fileHeader{Format: "mtl-gpu model", Spec: c.Model.Spec, Config: c.Config, State: c.State, Preprocessing: meta, Run: c.Run}
	tensors := [][]float32{c.Model.Params}
	h.Tensors = append(h.Tensors, tensorInfo{"params", len(c.Model.Params)})
	if c.Current != nil {
		tensors = append(tensors, c.Current)
		h.Tensors = append(h.Tensors, tensorInfo{"current", len(c.Current)})
	}
	for i, o := range c.Opt {
		tensors = append(tensors, o)
		h.Tensors = append(h.Tensors, tensorInfo{fmt.Sprintf("opt%d", i), len(o)})
	}
	head, err := json.Marshal(h)
	if err != nil {
		return err
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	var pre [16]byte
	copy(pre[:], fileMagic)
	binary.LittleEndian.PutUint32(pre[8:], FileVersion)
	binary.LittleEndian.PutUint32(pre[12:], uint32(len(head)))
	bw.Write(pre[:])
	bw.Write(head)
	var buf [4]byte
	for _, t := range tensors {
		for _, v := range t {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			bw.Write(buf[:])
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(buf[:], crc.Sum32())
	_, err = w.Write(buf[:])
	return err
}

// Load reads a model file written by Save. It returns the checkpoint and
// the preprocessing metadata. A truncated, corrupt or foreign file, one of
// a newer format version, or one whose header does not fit its model (see
// Checkpoint.Validate) gives an error that says so.
func Load(r io.Reader) (*Checkpoint, json.RawMessage, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	if len(data) < 16 || string(data[:8]) != fileMagic {
		return nil, nil, fmt.Errorf("%w: no mtl-gpu model header", ErrNotModel)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v > FileVersion {
		return nil, nil, fmt.Errorf("model file format version %d is newer than this mtl-gpu reads (%d): upgrade mtl-gpu", v, FileVersion)
	} else if v == 0 {
		return nil, nil, fmt.Errorf("%w: format version 0", ErrNotModel)
	}
	hlen := int(binary.LittleEndian.Uint32(data[12:]))
	if hlen > maxHeader || 16+hlen+4 > len(data) {
		return nil, nil, fmt.Errorf("%w: truncated (%d bytes, header alone needs %d)", ErrNotModel, len(data), 16+hlen+4)
	}
	var h fileHeader
	if err := json.Unmarshal(data[16:16+hlen], &h); err != nil {
		return nil, nil, fmt.Errorf("%w: corrupt header: %v", ErrNotModel, err)
	}
	want := 16 + hlen + 4
	for _, t := range h.Tensors {
		if t.Len < 0 || t.Len > len(data) {
			return nil, nil, fmt.Errorf("%w: corrupt tensor list", ErrNotModel)
		}
		want += 4 * t.Len
	}
	if len(data) != want {
		return nil, nil, fmt.Errorf("%w: truncated or padded (%d bytes, expected %d)", ErrNotModel, len(data), want)
	}
	body := data[:len(data)-4]
	if got, sum := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(data)-4:]); got != sum {
		return nil, nil, fmt.Errorf("%w: checksum mismatch (corrupt)", ErrNotModel)
	}
	if h.Format != "mtl-gpu model" {
		return nil, nil, fmt.Errorf("%w: format %q", ErrNotModel, h.Format)
	}
	c := &Checkpoint{Model: &Model{Spec: h.Spec}, Config: h.Config, State: h.State, Run: h.Run}
	off := 16 + hlen
	seen := map[string]bool{}
	for i, t := range h.Tensors {
		if seen[t.Name] || (t.Name != "params" && t.Name != "current" && t.Name != fmt.Sprintf("opt%d", len(c.Opt))) {
			return nil, nil, fmt.Errorf("%w: unexpected tensor %d %q", ErrNotModel, i, t.Name)
		}
		seen[t.Name] = true
		v := make([]float32, t.Len)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off+4*i:]))
		}
		off += 4 * t.Len
		switch {
		case t.Name == "params":
			c.Model.Params = v
		case t.Name == "current":
			c.Current = v
		default:
			c.Opt = append(c.Opt, v)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotModel, err)
	}
	return c, h.Preprocessing, nil
}

// SaveFile writes a checkpoint to path atomically (see package
// internal/atomicfile): a crash or kill at any point leaves either the old
// file or the new one, never a partial file.
func SaveFile(path string, c *Checkpoint, meta json.RawMessage) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Save(w, c, meta) })
}

// IsModelFile reports whether path starts like a model file (the magic
// bytes and a format version), reading only its first bytes: a quick
// check before a model replaces a file.
func IsModelFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var pre [12]byte
	if _, err := io.ReadFull(f, pre[:]); err != nil {
		return false, nil
	}
	return string(pre[:8]) == fileMagic && binary.LittleEndian.Uint32(pre[8:]) > 0, nil
}

// LoadFile reads a model file.
func LoadFile(path string) (*Checkpoint, json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	c, meta, err := Load(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, meta, nil
}

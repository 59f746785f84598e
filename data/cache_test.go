package data

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// collectBlocks copies every block of a scan.
func collectBlocks(t *testing.T, src Source, want []ColumnWant) []Block {
	t.Helper()
	var out []Block
	err := src.Scan(context.Background(), want, func(b *Block) error {
		out = append(out, copyBlock(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyBlock(b *Block) Block {
	c := Block{Row: b.Row, N: b.N, FirstLine: b.FirstLine, Cols: make([]Column, len(b.Cols))}
	if b.Lines != nil {
		c.Lines = append([]int64{}, b.Lines...)
	}
	for k, col := range b.Cols {
		if col.Num != nil {
			c.Cols[k].Num = append([]float64{}, col.Num...)
		}
		if col.Codes != nil {
			c.Cols[k].Codes = append([]int32{}, col.Codes...)
		}
		if col.Dict != nil {
			c.Cols[k].Dict = append([]string{}, col.Dict...)
		}
	}
	return c
}

// sameBlocks compares blocks exactly, NaNs by their bits.
func sameBlocks(t *testing.T, got, want []Block) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		for k := range w.Cols {
			gn, wn := g.Cols[k].Num, w.Cols[k].Num
			if len(gn) != len(wn) || (gn == nil) != (wn == nil) {
				t.Fatalf("block %d column %d: %d values, want %d", i, k, len(gn), len(wn))
			}
			for j := range wn {
				if math.Float64bits(gn[j]) != math.Float64bits(wn[j]) {
					t.Fatalf("block %d column %d row %d: %v, want %v", i, k, j, gn[j], wn[j])
				}
			}
		}
		if !reflect.DeepEqual(normBlock(g), normBlock(w)) {
			t.Fatalf("block %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestCacheRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 10))
	for iter := range 20 {
		content := randomCSV(rng, ',')
		src, err := NewCSVReader(bytes.NewReader(content), "c.csv", CSVOptions{ChunkSize: 1 + rng.IntN(100)})
		if err != nil {
			t.Fatal(err)
		}
		want := randomWants(rng, len(src.Columns()))
		path := filepath.Join(dir, fmt.Sprintf("c%d.cache", iter))
		var orig []Block
		err = WriteCache(context.Background(), path, src, want, func(b *Block) error {
			orig = append(orig, copyBlock(b))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := OpenCache(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Blocks() != len(orig) || c.Rows() != src.Rows() || !reflect.DeepEqual(c.Columns(), src.Columns()) {
			t.Fatalf("%d blocks, %d rows; want %d, %d", c.Blocks(), c.Rows(), len(orig), src.Rows())
		}
		sameBlocks(t, collectBlocks(t, c, want), orig)
		// Random access, in reverse.
		for i := c.Blocks() - 1; i >= 0; i-- {
			b, err := c.ReadBlock(i, want)
			if err != nil {
				t.Fatal(err)
			}
			sameBlocks(t, []Block{*b}, orig[i:i+1])
			if c.BlockRows(i) != orig[i].N {
				t.Fatalf("block %d: BlockRows %d, the block has %d", i, c.BlockRows(i), orig[i].N)
			}
		}
		c.Close()
	}
}

func TestCacheRefusesDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, err := NewCSVReader(strings.NewReader("a,b\n"+strings.Repeat("1.5,x\n", 500)), "d.csv", CSVOptions{ChunkSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "d.cache")
	if err := WriteCache(context.Background(), path, src, []ColumnWant{Auto, Text}, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	check := func(name string, content []byte, wantErr string) {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		c, err := OpenCache(p)
		if err == nil {
			err = c.Scan(context.Background(), []ColumnWant{Auto, Text}, func(*Block) error { return nil })
			c.Close()
		}
		if err == nil || !strings.HasPrefix(err.Error(), p+": "+wantErr) {
			t.Errorf("%s: error %v, want %q", name, err, wantErr)
		}
	}
	check("truncated", good[:len(good)-10], "not a complete block cache (truncated: no end marker)")
	check("half", good[:len(good)/2], "not a complete block cache")
	flipped := append([]byte{}, good...)
	flipped[200] ^= 1
	check("flipped", flipped, "block 1 is corrupt (checksum mismatch)")
	other := append([]byte{}, good...)
	copy(other, "NOTCACHE")
	check("magic", other, "not a complete block cache (no magic)")
	check("empty", nil, "not a complete block cache (too short)")

	c, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadBlock(0, []ColumnWant{Text, Text}); err == nil || !strings.Contains(err.Error(), `column "a" (1): cached as auto, asked for as text`) {
		t.Errorf("want mismatch: %v", err)
	}
	if b, err := c.ReadBlock(1, []ColumnWant{Skip, Text}); err != nil || b.Cols[0].Num != nil || b.Cols[1].Dict[b.Cols[1].Codes[0]] != "x" {
		t.Errorf("skip on read: %v", err)
	}
}

// normBlock makes empty slices nil (the API does not tell them apart)
// and leaves out the values, compared before by their bits.
func normBlock(b Block) Block {
	b.spare = nil
	if len(b.Lines) == 0 {
		b.Lines = nil
	}
	cols := make([]Column, len(b.Cols))
	for k, c := range b.Cols {
		c.Num = nil // compared by bits before
		if len(c.Codes) == 0 {
			c.Codes = nil
		}
		if len(c.Dict) == 0 {
			c.Dict = nil
		}
		cols[k] = c
	}
	b.Cols = cols
	return b
}

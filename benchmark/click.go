package benchmark

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// ClickOptions size the click data WriteClicks draws.
type ClickOptions struct {
	// Rows is the number of impressions; Users and Items the number of
	// distinct user and item IDs.
	Rows, Users, Items int
	// Seed draws the IDs' latent factors and the rows; the factors depend
	// on Seed alone, so that two files of the same Seed (a training and a
	// test file, with RowSeed apart) share them.
	Seed uint64
	// RowSeed draws the rows (0: Seed).
	RowSeed uint64
}

// clickFactors is the width of the latent factors of users and items.
const clickFactors = 4

// WriteClicks writes impressions of items to users as CSV, with three
// targets driven by per-ID latent factors and a few numeric inputs, so
// that a model that embeds the IDs can learn what one that ignores them
// cannot:
//
//	user_id, item_id        "u123", "i45": users uniform, items Zipf-like
//	hour, price, position   numeric inputs
//	click                   0/1, logistic(2·⟨p_user, q_item⟩ + b_user + b_item + inputs)
//	conversion              0/1 for a click, logistic(2·⟨p_user, r_item⟩ + b_user + …);
//	                        missing without a click (but for 5% of them, 0)
//	dwell                   seconds on the item after a click, 30 + 10·⟨s_user, q_item⟩ + …;
//	                        missing without a click
//
// The latent factors are standard normal draws from Seed, scaled by
// 1/√4 so that every inner product has unit variance.
func WriteClicks(w io.Writer, o ClickOptions) error {
	if o.Rows < 1 || o.Users < 1 || o.Items < 1 {
		return fmt.Errorf("click data needs rows, users and items (got %d, %d, %d)", o.Rows, o.Users, o.Items)
	}
	frng := rand.New(rand.NewPCG(o.Seed, 0x636c6b66))
	factors := func(n int) []float64 {
		f := make([]float64, n*clickFactors)
		for i := range f {
			f[i] = frng.NormFloat64() / 2
		}
		return f
	}
	biases := func(n int) []float64 {
		b := make([]float64, n)
		for i := range b {
			b[i] = 0.7 * frng.NormFloat64()
		}
		return b
	}
	pUser, sUser, bUser := factors(o.Users), factors(o.Users), biases(o.Users)
	qItem, rItem, bItem := factors(o.Items), factors(o.Items), biases(o.Items)
	dot := func(a []float64, i int, b []float64, j int) float64 {
		var s float64
		for k := range clickFactors {
			s += a[i*clickFactors+k] * b[j*clickFactors+k]
		}
		return s
	}
	seed := o.RowSeed
	if seed == 0 {
		seed = o.Seed
	}
	rng := rand.New(rand.NewPCG(seed, 0x636c6b72))
	zipf := rand.NewZipf(rng, 1.1, 8, uint64(o.Items-1))
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("user_id,item_id,hour,price,position,click,conversion,dwell\n")
	var line []byte
	sigmoid := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	for range o.Rows {
		u, it := rng.IntN(o.Users), int(zipf.Uint64())
		hour, price, pos := rng.IntN(24), math.Exp(rng.NormFloat64()), 1+rng.IntN(10)
		day := math.Sin(2 * math.Pi * float64(hour) / 24)
		click := rng.Float64() < sigmoid(-0.5+2*dot(pUser, u, qItem, it)+bUser[u]+bItem[it]+0.4*day-0.15*float64(pos))
		line = append(line[:0], 'u')
		line = strconv.AppendInt(line, int64(u), 10)
		line = append(line, ",i"...)
		line = strconv.AppendInt(line, int64(it), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(hour), 10)
		line = append(line, ',')
		line = strconv.AppendFloat(line, price, 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(pos), 10)
		conversion, dwell := "", ""
		switch {
		case click:
			conv := rng.Float64() < sigmoid(-0.3+2*dot(pUser, u, rItem, it)+bUser[u]+0.5*bItem[it]-0.5*math.Log(price))
			conversion = "0"
			if conv {
				conversion = "1"
			}
			dwell = strconv.FormatFloat(30+10*dot(sUser, u, qItem, it)+4*bUser[u]-2*math.Log(price)+3*rng.NormFloat64(), 'f', 1, 64)
		case rng.Float64() < 0.05:
			conversion = "0"
		}
		line = append(line, ',')
		if click {
			line = append(line, '1')
		} else {
			line = append(line, '0')
		}
		line = append(line, ',')
		line = append(line, conversion...)
		line = append(line, ',')
		line = append(line, dwell...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

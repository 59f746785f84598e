package stream

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// trainConfig is a short run's configuration.
func trainConfig() mtl.Config {
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.Patience = 4, 64, 0
	return cfg
}

// streamRun trains a new model from a stream (or continues ck) and
// returns the trainer's checkpoint; step, when not nil, is the trainer's
// step hook.
func streamRun(ctx context.Context, t *testing.T, b backend.Backend, d *Data, spec mtl.Spec, cfg mtl.Config, ck *mtl.Checkpoint, step func(epoch, step, steps int)) (*mtl.Checkpoint, error) {
	t.Helper()
	model := (*mtl.Model)(nil)
	if ck != nil {
		model, cfg = ck.Model, ck.Config
	} else {
		var err error
		if model, err = mtl.NewModelFromStats(spec, d.LabelStats(), cfg.Seed); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := mtl.NewStreamTrainer(b, model, cfg, d, d.Window(), d.Val, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.Fit(ctx, mtl.Hooks{Step: step})
	out, cerr := tr.Checkpoint()
	if cerr != nil {
		t.Fatal(cerr)
	}
	return out, err
}

// scores are a model's validation accuracy on the binary target and R²
// on the regression target.
type scores struct{ accuracy, r2 float64 }

func score(t *testing.T, b backend.Backend, m *mtl.Model, val *mtl.Dataset) scores {
	t.Helper()
	pred, err := m.Predict(b, val)
	if err != nil {
		t.Fatal(err)
	}
	var s scores
	var right, n float64
	for i, y := range val.Labels[0] {
		if !math.IsNaN(float64(y)) {
			n++
			if (pred[0][i] > 0.5) == (y == 1) {
				right++
			}
		}
	}
	s.accuracy = right / n
	var mean, cnt float64
	for _, y := range val.Labels[2] {
		if !math.IsNaN(float64(y)) {
			mean += float64(y)
			cnt++
		}
	}
	mean /= cnt
	var ss, sr float64
	for i, y := range val.Labels[2] {
		if !math.IsNaN(float64(y)) {
			ss += (float64(y) - mean) * (float64(y) - mean)
			// Predictions are in the target's units, labels less its offset.
			sr += (float64(y) - float64(pred[2][i])) * (float64(y) - float64(pred[2][i]))
		}
	}
	s.r2 = 1 - sr/ss
	return s
}

// TestStreamedTraining trains from a streamed CSV file on the CPU: the
// same seed gives the same model, a run interrupted in the middle of an
// epoch and resumed (with the data prepared anew, from the recorded
// layout) gives the very model of an uninterrupted one, and a streamed
// and an in-memory run on the same rows both learn, to about the same
// scores.
func TestStreamedTraining(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 4000, 5, 4)
	const budget = 4 << 20
	b := cpuBackend(t)
	cfg := trainConfig()
	spec := func(s *data.Schema) mtl.Spec { return specOf(s, 16) }
	opts := Options{ValFraction: 0.2, SplitSeed: cfg.Seed + 1, ByGroup: true, Layout: Layout{BlockRows: 450, Window: 2}}
	prepare := func() *Data {
		_, d := fitStream(t, openCSV(t, path, budget), FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: tempPath(t, "c.cache")}, opts, spec)
		return d
	}
	d := prepare()
	if d.Blocks() < 8 {
		t.Fatalf("%d blocks: too few to test the windows", d.Blocks())
	}
	sp := spec(d.schema)
	full, err := streamRun(context.Background(), t, b, d, sp, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := streamRun(context.Background(), t, b, d, sp, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Model.Params, full.Model.Params) || !slices.Equal(again.Current, full.Current) {
		t.Fatal("the same seed gave another model")
	}
	// Interrupted in the third epoch, saved and loaded, resumed on data
	// prepared anew with the recorded layout.
	ctx, cancel := context.WithCancel(context.Background())
	ck, err := streamRun(ctx, t, b, d, sp, cfg, nil, func(epoch, step, steps int) {
		if epoch == 2 && step == steps/2 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	var buf bytes.Buffer
	if err := mtl.Save(&buf, ck, nil); err != nil {
		t.Fatal(err)
	}
	if ck, _, err = mtl.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if ck.State.Epoch != 2 || ck.State.EpochStep == 0 {
		t.Fatalf("interrupted at epoch %d, step %d", ck.State.Epoch, ck.State.EpochStep)
	}
	opts.Layout = d.Layout()
	resumed, err := streamRun(context.Background(), t, b, prepare(), sp, cfg, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resumed.Model.Params, full.Model.Params) || !slices.Equal(resumed.Current, full.Current) {
		t.Fatal("the resumed run differs from the uninterrupted one")
	}

	// The same rows in memory.
	mem := inMemory(t, openCSV(t, path, budget), fitOptions(t), opts.ValFraction, opts.SplitSeed)
	trainSet, valSet := mem.train, mem.val
	model, err := mtl.NewModel(sp, trainSet, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := mtl.NewTrainer(b, model, cfg, trainSet, valSet, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fit(context.Background(), mtl.Hooks{}); err != nil {
		t.Fatal(err)
	}
	memCk, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	streamed, inMem := score(t, b, full.Model, d.Val), score(t, b, memCk.Model, valSet)
	t.Logf("validation accuracy (binary) streamed %.4f, in memory %.4f; R² (regression) streamed %.4f, in memory %.4f",
		streamed.accuracy, inMem.accuracy, streamed.r2, inMem.r2)
	for what, s := range map[string]scores{"streamed": streamed, "in memory": inMem} {
		if s.accuracy < 0.85 || s.r2 < 0.7 {
			t.Errorf("%s run did not learn: accuracy %.3f, R² %.3f", what, s.accuracy, s.r2)
		}
	}
	if math.Abs(streamed.accuracy-inMem.accuracy) > 0.03 || math.Abs(streamed.r2-inMem.r2) > 0.05 {
		t.Errorf("streamed and in-memory runs differ by more than expected: %+v and %+v", streamed, inMem)
	}
}

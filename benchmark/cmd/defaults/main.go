// Command defaults measures mtl-gpu's held-out metrics on the public data
// sets beside the repository (../shared/data), over several seeds, against
// the best scikit-learn baseline of each task, as a user would run it:
// train then eval with the binary and the given extra flags.
//
//	go run ./benchmark/cmd/defaults -bin bin/mtl-gpu -seeds 5 [-only adult,wine] [-- --cv 5 ...]
//
// It prints one line per task (mean ± std over seeds, the baseline, the
// gap) and the time per run. It is a benchmark, not a test.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// set is one data set: its files, tasks and the metrics to report.
type set struct {
	name        string
	train, test string
	tasks       []string
	checks      []check
	demo        bool // the built-in School demonstration (its own split)
}

// check is one metric of one task and its best baseline.
type check struct {
	task, metric string
	baseline     float64
	source       string
}

func sets() []set {
	sk := func(name string, tasks []string, checks ...check) set {
		return set{name: name, train: "sklearn/" + name + "_train.csv", test: "sklearn/" + name + "_test.csv", tasks: tasks, checks: checks}
	}
	return []set{
		{name: "seed", train: "seed_example/seed_train.csv", test: "seed_example/seed_test.csv", tasks: []string{"y:multiclass"},
			checks: []check{{"y", "accuracy", 0.890, "random forest"}}},
		{name: "adult", train: "adult/adult_train.csv.gz", test: "adult/adult_test.csv.gz",
			tasks:  []string{"income_gt_50k:binary", "marital_status:multiclass", "relationship:multiclass"},
			checks: []check{{"income_gt_50k", "auc", 0.8965, "HistGB"}, {"income_gt_50k", "accuracy", 0.854, "HistGB"}}},
		{name: "school", demo: true, checks: []check{{"exam_score", "explained_variance", 0.3695, "ridge + school intercept"}}},
		{name: "emotions", train: "emotions/emotions_train.csv", test: "emotions/emotions_test.csv",
			tasks:  []string{"amazed-suprised:binary", "happy-pleased:binary", "relaxing-calm:binary", "quiet-still:binary", "sad-lonely:binary", "angry-aggresive:binary"},
			checks: []check{{"", "binary_mean_auc", 0.8245, "logistic regression"}}},
		sk("wine", []string{"cultivar:multiclass", "proline:regression"}, check{"cultivar", "accuracy", 0.978, "logreg, HistGB, RF"}, check{"proline", "r2", 0.782, "RF"}),
		sk("diabetes", []string{"progression:regression", "above_median:binary"}, check{"progression", "r2", 0.486, "ridge"},
			check{"above_median", "accuracy", 0.775, "HistGB"}, check{"above_median", "auc", 0.858, "logreg"}),
		sk("breast_cancer", []string{"benign:binary", "mean_radius:regression"}, check{"benign", "accuracy", 0.979, "logreg"},
			check{"benign", "auc", 0.998, "logreg"}, check{"mean_radius", "r2", 1.000, "ridge"}),
		sk("digits", []string{"digit:multiclass", "is_even:binary", "gt4:binary"}, check{"digit", "accuracy", 0.978, "HistGB"},
			check{"is_even", "accuracy", 0.996, "RF"}, check{"is_even", "auc", 1.000, "RF"}, check{"gt4", "accuracy", 0.991, "RF"}, check{"gt4", "auc", 0.999, "HistGB"}),
		sk("linnerud", []string{"Weight:regression", "Waist:regression", "Pulse:regression"}, check{"Weight", "r2", -0.145, "HistGB"},
			check{"Waist", "r2", 0.558, "ridge"}, check{"Pulse", "r2", -0.079, "HistGB"}),
	}
}

func main() {
	bin := flag.String("bin", "bin/mtl-gpu", "the mtl-gpu binary")
	dataDir := flag.String("data", "../shared/data", "the shared data sets")
	seeds := flag.Int("seeds", 5, "seeds per data set")
	only := flag.String("only", "", "comma-separated data sets to run (default: all)")
	parallel := flag.Int("parallel", 1, "runs at once")
	flag.Parse()
	extra := flag.Args()
	var chosen []set
	for _, s := range sets() {
		if *only == "" || slices.Contains(strings.Split(*only, ","), s.name) {
			chosen = append(chosen, s)
		}
	}
	fmt.Printf("flags: %s\n", strings.Join(extra, " "))
	sem := make(chan struct{}, *parallel)
	for _, s := range chosen {
		res := make([]map[string]float64, *seeds)
		secs := make([]float64, *seeds)
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		for seed := range *seeds {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				m, sec, err := runOnce(*bin, *dataDir, s, seed, extra)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = err
				}
				res[seed], secs[seed] = m, sec
			}()
		}
		wg.Wait()
		if failed != nil {
			fmt.Printf("%-14s FAILED: %v\n", s.name, failed)
			continue
		}
		t, _ := meanStd(secs)
		for _, c := range s.checks {
			var v []float64
			for _, r := range res {
				v = append(v, r[c.task+"/"+c.metric])
			}
			mean, std := meanStd(v)
			fmt.Printf("%-14s %-16s %-18s %.4f ± %.4f   best baseline %.4f (%s)   gap %+.4f   %.1f s/run\n",
				s.name, c.task, c.metric, mean, std, c.baseline, c.source, mean-c.baseline, t)
		}
	}
}

// runOnce trains and scores one data set with one seed and returns its
// metrics keyed task/metric (overall metrics under "/name").
func runOnce(bin, dataDir string, s set, seed int, extra []string) (map[string]float64, float64, error) {
	dir, err := os.MkdirTemp("", "defaults-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "m.mtl")
	args := []string{"train", "--quiet", "--seed", strconv.Itoa(seed), "--out", model}
	if !s.demo {
		args = append(args, "--data", filepath.Join(dataDir, s.train))
		for _, t := range s.tasks {
			args = append(args, "--task", t)
		}
	}
	args = append(args, extra...)
	start := time.Now()
	out, err := exec.Command(bin, args...).CombinedOutput()
	sec := time.Since(start).Seconds()
	if err != nil {
		return nil, sec, fmt.Errorf("%s seed %d: %v: %s", s.name, seed, err, lastLine(out))
	}
	if s.demo {
		m := regexp.MustCompile(`held-out explained variance ([0-9.-]+)%`).FindSubmatch(out)
		if m == nil {
			return nil, sec, fmt.Errorf("school: no explained variance in %q", out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return map[string]float64{"exam_score/explained_variance": v / 100}, sec, nil
	}
	ev, err := exec.Command(bin, "eval", "--quiet", "--json", "--model", model, "--data", filepath.Join(dataDir, s.test)).Output()
	if err != nil {
		return nil, sec, fmt.Errorf("%s seed %d: eval: %v", s.name, seed, err)
	}
	var rep struct {
		Tasks   map[string]map[string]any `json:"tasks"`
		Overall map[string]*float64       `json:"overall"`
	}
	if err := json.Unmarshal(ev, &rep); err != nil {
		return nil, sec, err
	}
	m := map[string]float64{}
	for task, vals := range rep.Tasks {
		for k, v := range vals {
			if f, ok := v.(float64); ok {
				m[task+"/"+k] = f
			}
		}
	}
	for k, v := range rep.Overall {
		if v != nil {
			m["/"+k] = *v
		}
	}
	return m, sec, nil
}

func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(lines[len(lines)-1])
}

func meanStd(v []float64) (float64, float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	if len(v) < 2 {
		return m, 0
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

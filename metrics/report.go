package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Overall metric names, in the order they are written. The first four are
// over binary tasks, mean_accuracy over multiclass tasks, the last three
// over regression tasks.
var overallNames = []string{
	"mean_auc", "hamming_loss", "micro_f1", "macro_f1",
	"mean_accuracy",
	"rmse", "mae", "explained_variance",
}

// Report is the evaluation of a model on a labelled file: per-task metrics
// and overall metrics across tasks. It marshals to
//
//	{"tasks": {"<task>": {"type": "...", "n": N, <metrics>}, ...},
//	 "overall": {<metrics>}}
//
// with tasks in Order and an undefined metric written as null.
type Report struct {
	// Tasks holds the metrics of each task by name.
	Tasks map[string]TaskMetrics
	// Order lists the task names in the order they are written; names not
	// in it follow in sorted order.
	Order []string
	// Overall holds the overall metrics; a nil value is undefined.
	Overall map[string]*float64
}

// Summarise builds a Report from the metrics of named tasks, computing the
// overall metrics:
//
//   - over binary tasks: mean_auc, the mean of the defined task AUCs;
//     hamming_loss, the fraction of wrong decisions over all (row, task)
//     pairs with a label; micro_f1, the F1 of those pairs pooled; macro_f1,
//     the mean of the defined task F1s;
//   - over multiclass tasks: mean_accuracy, the mean of the defined task
//     accuracies;
//   - over regression tasks, pooling all their labelled rows: rmse, mae,
//     and explained_variance = 1 − SSE/SST with SST taken around the mean
//     of all pooled values.
//
// A key is present exactly when the report has a task of its kind, and is
// nil when no task of that kind gives it a defined value (for example
// mean_auc when every binary task has one class only). The pooled metrics
// need TaskMetrics made by Binary and Regression; for others (read from
// JSON) they are nil. Summarise panics when the lengths differ or a name
// repeats.
func Summarise(names []string, tasks []TaskMetrics) Report {
	if len(names) != len(tasks) {
		panic(fmt.Sprintf("metrics: Summarise with %d names and %d tasks", len(names), len(tasks)))
	}
	r := Report{Tasks: make(map[string]TaskMetrics, len(tasks)), Order: slices.Clone(names), Overall: map[string]*float64{}}
	for i, name := range names {
		if _, dup := r.Tasks[name]; dup {
			panic(fmt.Sprintf("metrics: Summarise with task %q twice", name))
		}
		r.Tasks[name] = tasks[i]
	}

	var aucs, f1s, accs []float64
	var binary, multiclass, regression, pooledOK bool
	pooledOK = true
	var bin taskStats
	// Regression rows pooled with Chan et al.'s update of mean and M2.
	var regN, regMean, regM2, regSSE, regSAE float64
	for _, m := range tasks {
		switch m.Type {
		case TypeBinary:
			binary = true
			if v, ok := m.Get("auc"); ok {
				aucs = append(aucs, v)
			}
			if v, ok := m.Get("f1"); ok {
				f1s = append(f1s, v)
			}
			if m.stats == nil {
				pooledOK = false
				continue
			}
			bin.tp += m.stats.tp
			bin.fp += m.stats.fp
			bin.fn += m.stats.fn
			bin.tn += m.stats.tn
		case TypeMulticlass:
			multiclass = true
			if v, ok := m.Get("accuracy"); ok {
				accs = append(accs, v)
			}
		case TypeRegression:
			regression = true
			if m.stats == nil {
				pooledOK = false
				continue
			}
			if m.N == 0 {
				continue
			}
			n := float64(m.N)
			total := regN + n
			delta := m.stats.meanY - regMean
			regM2 += m.stats.m2Y + delta*delta*regN*n/total
			regMean += delta * n / total
			regN = total
			regSSE += m.stats.sse
			regSAE += m.stats.sae
		}
	}

	put := func(name string, v float64, ok bool) {
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			r.Overall[name] = nil
			return
		}
		r.Overall[name] = &v
	}
	if binary {
		v, ok := average(aucs)
		put("mean_auc", v, ok)
		pairs := bin.tp + bin.fp + bin.fn + bin.tn
		put("hamming_loss", float64(bin.fp+bin.fn)/float64(pairs), pooledOK && pairs > 0)
		d := 2*bin.tp + bin.fp + bin.fn
		put("micro_f1", 2*float64(bin.tp)/float64(d), pooledOK && d > 0)
		v, ok = average(f1s)
		put("macro_f1", v, ok)
	}
	if multiclass {
		v, ok := average(accs)
		put("mean_accuracy", v, ok)
	}
	if regression {
		ok := pooledOK && regN > 0
		put("rmse", math.Sqrt(regSSE/regN), ok)
		put("mae", regSAE/regN, ok)
		put("explained_variance", 1-regSSE/regM2, ok && regM2 > 0)
	}
	return r
}

// average returns the mean of vs, and false when vs is empty.
func average(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	var s float64
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs)), true
}

// taskOrder returns Order (the names present in Tasks) followed by the
// other task names, sorted.
func (r Report) taskOrder() []string {
	seen := map[string]bool{}
	var order []string
	for _, name := range r.Order {
		if _, ok := r.Tasks[name]; ok && !seen[name] {
			seen[name] = true
			order = append(order, name)
		}
	}
	var rest []string
	for name := range r.Tasks {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(order, rest...)
}

// orderedKeys returns the keys of values in the order of known, then the
// others sorted.
func orderedKeys(values map[string]*float64, known []string) []string {
	var keys []string
	for _, k := range known {
		if _, ok := values[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range values {
		if !slices.Contains(known, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// writeKey writes a JSON object key and its colon.
func writeKey(b *bytes.Buffer, key string) {
	k, _ := json.Marshal(key) // a string always marshals
	b.Write(k)
	b.WriteByte(':')
}

// writeNumber writes v, or null for nil or a value that is not finite.
func writeNumber(b *bytes.Buffer, v *float64) {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		b.WriteString("null")
		return
	}
	num, _ := json.Marshal(*v) // finite numbers always marshal
	b.Write(num)
}

// writeValues writes "key":value pairs in order, each preceded by a comma
// when first is false.
func writeValues(b *bytes.Buffer, values map[string]*float64, keys []string, first bool) {
	for _, k := range keys {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeKey(b, k)
		writeNumber(b, values[k])
	}
}

// MarshalJSON writes {"type": ..., "n": ..., <metrics>} with the metrics in
// their usual order and undefined ones as null.
func (m TaskMetrics) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	writeKey(&b, "type")
	t, _ := json.Marshal(m.Type)
	b.Write(t)
	b.WriteByte(',')
	writeKey(&b, "n")
	fmt.Fprintf(&b, "%d", m.N)
	writeValues(&b, m.Values, orderedKeys(m.Values, metricNames[m.Type]), false)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (m *TaskMetrics) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := TaskMetrics{Values: map[string]*float64{}}
	for k, v := range raw {
		var err error
		switch k {
		case "type":
			err = json.Unmarshal(v, &out.Type)
		case "n":
			err = json.Unmarshal(v, &out.N)
		default:
			var x *float64
			err = json.Unmarshal(v, &x)
			out.Values[k] = x
		}
		if err != nil {
			return fmt.Errorf("metrics: task field %q: %w", k, err)
		}
	}
	*m = out
	return nil
}

// MarshalJSON writes {"tasks": {...}, "overall": {...}} with tasks in order.
func (r Report) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"tasks":{`)
	for i, name := range r.taskOrder() {
		if i > 0 {
			b.WriteByte(',')
		}
		writeKey(&b, name)
		t, err := r.Tasks[name].MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.Write(t)
	}
	b.WriteString(`},"overall":{`)
	writeValues(&b, r.Overall, orderedKeys(r.Overall, overallNames), true)
	b.WriteString("}}")
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes, keeping the task order.
func (r *Report) UnmarshalJSON(data []byte) error {
	var raw struct {
		Tasks   json.RawMessage     `json:"tasks"`
		Overall map[string]*float64 `json:"overall"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := Report{Tasks: map[string]TaskMetrics{}, Overall: raw.Overall}
	if out.Overall == nil {
		out.Overall = map[string]*float64{}
	}
	if len(raw.Tasks) > 0 && string(raw.Tasks) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw.Tasks))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return fmt.Errorf("metrics: \"tasks\" is not an object")
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string) // object keys are strings
			var m TaskMetrics
			if err := dec.Decode(&m); err != nil {
				return fmt.Errorf("metrics: task %q: %w", name, err)
			}
			if _, dup := out.Tasks[name]; !dup {
				out.Order = append(out.Order, name)
			}
			out.Tasks[name] = m
		}
	}
	*r = out
	return nil
}

// Table formats the report for people: one block per task type with a
// row per task, then the overall metrics. Undefined metrics show as "-".
func (r Report) Table() string {
	order := r.taskOrder()
	var b strings.Builder
	for _, typ := range []string{TypeBinary, TypeMulticlass, TypeRegression} {
		var names []string
		for _, name := range order {
			if r.Tasks[name].Type == typ {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			continue
		}
		cols := metricNames[typ]
		width := len(typ)
		for _, name := range names {
			width = max(width, len(name))
		}
		nWidth := len("n")
		for _, name := range names {
			nWidth = max(nWidth, len(fmt.Sprint(r.Tasks[name].N)))
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-*s  %*s", width, typ, nWidth, "n")
		for _, c := range cols {
			fmt.Fprintf(&b, "  %*s", cellWidth(c), c)
		}
		b.WriteByte('\n')
		for _, name := range names {
			m := r.Tasks[name]
			fmt.Fprintf(&b, "%-*s  %*d", width, name, nWidth, m.N)
			for _, c := range cols {
				fmt.Fprintf(&b, "  %*s", cellWidth(c), formatValue(m.Values[c]))
			}
			b.WriteByte('\n')
		}
	}
	if keys := orderedKeys(r.Overall, overallNames); len(keys) > 0 {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		width := len("overall")
		for _, k := range keys {
			width = max(width, len(k))
		}
		b.WriteString("overall\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%-*s  %10s\n", width, k, formatValue(r.Overall[k]))
		}
	}
	return b.String()
}

// cellWidth is the width of a metric column: its name or a number,
// whichever is wider.
func cellWidth(name string) int { return max(len(name), 8) }

// formatValue writes a metric with four decimals, or "-" when undefined.
func formatValue(v *float64) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.4f", *v)
}

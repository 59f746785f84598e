package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// taskTypes lists the task types in the order a report shows them.
var taskTypes = []string{TypeBinary, TypeMulticlass, TypeRegression}

// OverallName names the overall metric that averages metric over the tasks
// of a type: TYPE_mean_METRIC, e.g. binary_mean_auc or
// regression_mean_r2.
func OverallName(taskType, metric string) string { return taskType + "_mean_" + metric }

// overallNames lists every overall metric in the order they are written.
var overallNames = func() []string {
	var names []string
	for _, typ := range taskTypes {
		for _, m := range metricNames[typ] {
			names = append(names, OverallName(typ, m))
		}
	}
	return names
}()

// Report is the evaluation of a model on a labelled file: per-task metrics
// and overall metrics across tasks. It marshals to
//
//	{"tasks": {"<task>": {"type": "...", "n": N, <metrics>,
//	                      "groups": {"<group>": {"type": ..., "n": ..., <metrics>}, ...}}, ...},
//	 "overall": {<metrics>}}
//
// with tasks in Order, "groups" only for a family of tasks, an
// "unseen_class_rows" count only when there are such rows, and an
// undefined metric written as null.
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
// overall metrics: for each task type present and each metric of that
// type, TYPE_mean_METRIC is the unweighted mean of the metric over the
// tasks of that type where it is defined (scikit-learn's
// "uniform_average"). A family of tasks (one head per group) counts as one
// task, by its metrics over all of its rows; its per-group metrics are not
// averaged again. A key is present exactly when the report has a task of
// its type, and is nil when no such task gives it a value (for example
// binary_mean_auc when every binary task has one class only). Summarise
// panics when the lengths differ or a name repeats.
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
	for _, typ := range taskTypes {
		present := false
		values := map[string][]float64{}
		for _, m := range tasks {
			if m.Type != typ {
				continue
			}
			present = true
			for _, name := range metricNames[typ] {
				if v, ok := m.Get(name); ok {
					values[name] = append(values[name], v)
				}
			}
		}
		if !present {
			continue
		}
		for _, name := range metricNames[typ] {
			key := OverallName(typ, name)
			v, ok := average(values[name])
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				r.Overall[key] = nil
				continue
			}
			r.Overall[key] = &v
		}
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
// their usual order and undefined ones as null, then "unseen_class_rows"
// when there are such rows and "groups" for a family.
func (m TaskMetrics) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	m.writeJSON(&b)
	return b.Bytes(), nil
}

func (m TaskMetrics) writeJSON(b *bytes.Buffer) {
	b.WriteByte('{')
	writeKey(b, "type")
	t, _ := json.Marshal(m.Type)
	b.Write(t)
	b.WriteByte(',')
	writeKey(b, "n")
	fmt.Fprintf(b, "%d", m.N)
	writeValues(b, m.Values, orderedKeys(m.Values, metricNames[m.Type]), false)
	if m.Unseen > 0 {
		b.WriteByte(',')
		writeKey(b, unseenKey)
		fmt.Fprintf(b, "%d", m.Unseen)
	}
	if m.Groups != nil {
		b.WriteByte(',')
		writeKey(b, groupsKey)
		b.WriteByte('{')
		for i, g := range m.Groups {
			if i > 0 {
				b.WriteByte(',')
			}
			writeKey(b, g.Group)
			g.Metrics.writeJSON(b)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
}

// The keys of a task's JSON object that are not metrics.
const (
	unseenKey = "unseen_class_rows"
	groupsKey = "groups"
)

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
		case unseenKey:
			err = json.Unmarshal(v, &out.Unseen)
		case groupsKey:
			out.Groups, err = readGroups(v)
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

// readGroups reads a "groups" object, keeping its order.
func readGroups(data []byte) ([]GroupMetrics, error) {
	groups := []GroupMetrics{}
	if string(data) == "null" {
		return nil, nil
	}
	err := readOrdered(data, func(name string, dec *json.Decoder) error {
		var m TaskMetrics
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("group %q: %w", name, err)
		}
		for i := range groups {
			if groups[i].Group == name {
				groups[i].Metrics = m
				return nil
			}
		}
		groups = append(groups, GroupMetrics{Group: name, Metrics: m})
		return nil
	})
	return groups, err
}

// readOrdered calls each for every key of a JSON object, in order, with
// the decoder positioned at its value.
func readOrdered(data []byte, each func(key string, dec *json.Decoder) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string) // object keys are strings
		if err := each(name, dec); err != nil {
			return err
		}
	}
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
		r.Tasks[name].writeJSON(&b)
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
		err := readOrdered(raw.Tasks, func(name string, dec *json.Decoder) error {
			var m TaskMetrics
			if err := dec.Decode(&m); err != nil {
				return fmt.Errorf("task %q: %w", name, err)
			}
			if _, dup := out.Tasks[name]; !dup {
				out.Order = append(out.Order, name)
			}
			out.Tasks[name] = m
			return nil
		})
		if err != nil {
			return fmt.Errorf("metrics: \"tasks\": %w", err)
		}
	}
	*r = out
	return nil
}

// Table formats the report for people: one block per task type with a
// row per task (a family's groups indented under it, as @GROUP), then the
// overall metrics. Undefined metrics show as "-".
func (r Report) Table() string {
	order := r.taskOrder()
	var b strings.Builder
	for _, typ := range taskTypes {
		type row struct {
			name string
			m    TaskMetrics
		}
		var rows []row
		for _, name := range order {
			m := r.Tasks[name]
			if m.Type != typ {
				continue
			}
			rows = append(rows, row{name, m})
			for _, g := range m.Groups {
				rows = append(rows, row{"  @" + g.Group, g.Metrics})
			}
		}
		if len(rows) == 0 {
			continue
		}
		cols := metricNames[typ]
		width, nWidth := len(typ), len("n")
		for _, rw := range rows {
			width = max(width, len(rw.name))
			nWidth = max(nWidth, len(fmt.Sprint(rw.m.N)))
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-*s  %*s", width, typ, nWidth, "n")
		for _, c := range cols {
			fmt.Fprintf(&b, "  %*s", cellWidth(c), c)
		}
		b.WriteByte('\n')
		for _, rw := range rows {
			fmt.Fprintf(&b, "%-*s  %*d", width, rw.name, nWidth, rw.m.N)
			for _, c := range cols {
				fmt.Fprintf(&b, "  %*s", cellWidth(c), formatValue(rw.m.Values[c]))
			}
			if rw.m.Unseen > 0 {
				fmt.Fprintf(&b, "  (%d rows of classes unseen in training)", rw.m.Unseen)
			}
			b.WriteByte('\n')
		}
	}
	if keys := orderedKeys(r.Overall, overallNames); len(keys) > 0 {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		width := len("overall (unweighted means over tasks)")
		for _, k := range keys {
			width = max(width, len(k))
		}
		b.WriteString("overall (unweighted means over tasks)\n")
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

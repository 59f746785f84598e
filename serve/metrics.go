package serve

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// durationBuckets are the upper bounds, in seconds, of the request
// latency histogram.
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// histogram counts observations by bucket.
type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(durationBuckets)+1)
	}
	i, _ := slices.BinarySearch(durationBuckets, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

// requestKey labels a request count.
type requestKey struct {
	handler string
	code    int
}

// metrics holds the counters /metrics serves, in the Prometheus text
// exposition format.
type metrics struct {
	mu        sync.Mutex
	requests  map[requestKey]uint64
	durations map[string]*histogram
	rows      uint64 // rows predicted
	batches   uint64 // model runs
	batched   uint64 // requests answered by those runs
	reloads   map[string]uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[requestKey]uint64{}, durations: map[string]*histogram{}, reloads: map[string]uint64{}}
}

func (m *metrics) request(handler string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[requestKey{handler, code}]++
	h := m.durations[handler]
	if h == nil {
		h = &histogram{}
		m.durations[handler] = h
	}
	h.observe(d.Seconds())
}

func (m *metrics) batch(requests, rows int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	m.batched += uint64(requests)
	m.rows += uint64(rows)
}

func (m *metrics) reload(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok {
		m.reloads["ok"]++
	} else {
		m.reloads["error"]++
	}
}

// write writes every metric in the Prometheus text format (version
// 0.0.4).
func (m *metrics) write(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	p("# HELP mtlgpu_http_requests_total HTTP requests answered, by handler and status code.\n")
	p("# TYPE mtlgpu_http_requests_total counter\n")
	keys := slices.SortedFunc(maps.Keys(m.requests), func(a, b requestKey) int {
		if a.handler != b.handler {
			return cmp.Compare(a.handler, b.handler)
		}
		return a.code - b.code
	})
	for _, k := range keys {
		p("mtlgpu_http_requests_total{handler=%q,code=\"%d\"} %d\n", k.handler, k.code, m.requests[k])
	}
	p("# HELP mtlgpu_http_request_duration_seconds Time to answer HTTP requests, by handler.\n")
	p("# TYPE mtlgpu_http_request_duration_seconds histogram\n")
	for _, handler := range slices.Sorted(maps.Keys(m.durations)) {
		h := m.durations[handler]
		var cum uint64
		for i, le := range durationBuckets {
			cum += h.counts[i]
			p("mtlgpu_http_request_duration_seconds_bucket{handler=%q,le=%q} %d\n", handler, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		p("mtlgpu_http_request_duration_seconds_bucket{handler=%q,le=\"+Inf\"} %d\n", handler, h.n)
		p("mtlgpu_http_request_duration_seconds_sum{handler=%q} %s\n", handler, strconv.FormatFloat(h.sum, 'g', -1, 64))
		p("mtlgpu_http_request_duration_seconds_count{handler=%q} %d\n", handler, h.n)
	}
	p("# HELP mtlgpu_batches_total Batches of rows run through the model; a batch of up to 4096 rows is one forward pass.\n")
	p("# TYPE mtlgpu_batches_total counter\nmtlgpu_batches_total %d\n", m.batches)
	p("# HELP mtlgpu_batched_requests_total Prediction requests answered by those batches.\n")
	p("# TYPE mtlgpu_batched_requests_total counter\nmtlgpu_batched_requests_total %d\n", m.batched)
	p("# HELP mtlgpu_predicted_rows_total Rows predicted.\n")
	p("# TYPE mtlgpu_predicted_rows_total counter\nmtlgpu_predicted_rows_total %d\n", m.rows)
	p("# HELP mtlgpu_model_reloads_total Model reloads, by result.\n")
	p("# TYPE mtlgpu_model_reloads_total counter\n")
	for _, r := range []string{"error", "ok"} {
		p("mtlgpu_model_reloads_total{result=%q} %d\n", r, m.reloads[r])
	}
	return err
}

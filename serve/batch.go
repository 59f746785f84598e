package serve

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

// job is one request's rows waiting for the model.
type job struct {
	model *loaded    // the model its rows were checked against
	rows  [][]string // cells in the order of model.header
	done  chan result
}

// result is a job's answer: its rows of the prediction table, or an
// error (a *pipeline.RowError for a bad row of the job).
type result struct {
	columns []string
	numeric []bool
	rows    [][]string
	err     error
}

// submit queues a job for the batch loop and waits for its result.
func (s *Server) submit(j *job) result {
	j.done = make(chan result, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return result{err: errClosed}
	}
	s.jobs <- j
	s.mu.RUnlock()
	return <-j.done
}

// batchLoop gathers jobs into batches: the first job waits up to MaxWait
// for others, until the batch holds MaxBatch rows; a job that would take
// it over, or that was checked against another model (after a reload),
// starts the next batch. Each batch is one run of the model.
func (s *Server) batchLoop() {
	defer close(s.done)
	var next *job
	for {
		first := next
		next = nil
		if first == nil {
			var ok bool
			if first, ok = <-s.jobs; !ok {
				return
			}
		}
		batch, rows := []*job{first}, len(first.rows)
		var timer *time.Timer
		var timeout <-chan time.Time
		if s.opts.MaxWait > 0 {
			timer = time.NewTimer(s.opts.MaxWait)
			timeout = timer.C
		}
	gather:
		for rows < s.opts.MaxBatch {
			var j *job
			var ok bool
			if timeout == nil {
				select {
				case j, ok = <-s.jobs:
				default:
					break gather
				}
			} else {
				select {
				case j, ok = <-s.jobs:
				case <-timeout:
					break gather
				}
			}
			if !ok {
				break
			}
			if j.model != first.model || rows+len(j.rows) > s.opts.MaxBatch {
				next = j
				break
			}
			batch, rows = append(batch, j), rows+len(j.rows)
		}
		if timer != nil {
			timer.Stop()
		}
		s.run(batch)
	}
}

// run predicts a batch in one run of the model and answers each job with
// its rows. When a row fails in the model's preprocessing, the job that
// sent it gets the error (its row numbered within the job) and the rest
// of the batch runs again without it.
func (s *Server) run(batch []*job) {
	l := batch[0].model
	var all [][]string
	for _, j := range batch {
		all = append(all, j.rows...)
	}
	table, err := s.predictRows(l, all)
	if err != nil {
		var re *pipeline.RowError
		if errors.As(err, &re) && re.Row >= 0 {
			lo := 0
			for k, j := range batch {
				if re.Row < lo+len(j.rows) {
					j.done <- result{err: &pipeline.RowError{Row: re.Row - lo, Column: re.Column, Err: re.Err}}
					if rest := slices.Delete(slices.Clone(batch), k, k+1); len(rest) > 0 {
						s.run(rest)
					}
					return
				}
				lo += len(j.rows)
			}
		}
		for _, j := range batch {
			j.done <- result{err: err}
		}
		return
	}
	s.metrics.batch(len(batch), len(all))
	lo := 0
	for _, j := range batch {
		hi := lo + len(j.rows)
		j.done <- result{columns: table.Columns, numeric: table.Numeric, rows: table.Rows[lo:hi]}
		lo = hi
	}
}

// predictRows runs the model on rows.
func (s *Server) predictRows(l *loaded, rows [][]string) (*pipeline.PredictionTable, error) {
	ap, err := l.model.ReadRows(l.header, rows)
	if err != nil {
		return nil, err
	}
	if err := ap.Predict(s.backend); err != nil {
		return nil, fmt.Errorf("predicting: %w", err)
	}
	return ap.PredictionTable()
}

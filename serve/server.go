package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

// Options configure a Server.
type Options struct {
	// MaxBatch is the number of rows above which a batch takes no more
	// requests; 1 runs every request on its own.
	MaxBatch int
	// MaxWait is how long the first request of a batch waits for others;
	// 0 batches only the requests already waiting.
	MaxWait time.Duration
	// MaxBody is the largest request body accepted, in bytes.
	MaxBody int64
	// The HTTP time-outs: to read a request's headers, to read its body
	// (ReadTimeout covers headers and body), to write the answer, and to
	// keep an idle connection open.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Log receives the server's log; nil discards it.
	Log *slog.Logger
}

// DefaultOptions returns batches of up to 1024 rows gathered for up to
// 2 ms, bodies of up to 16 MiB, and time-outs of 5 s for the headers,
// 30 s for the body and the answer, and 120 s idle.
func DefaultOptions() Options {
	return Options{
		MaxBatch:          1024,
		MaxWait:           2 * time.Millisecond,
		MaxBody:           16 << 20,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// loaded is a model ready to serve: the model, its description, and the
// input columns in the order rows are given to it.
type loaded struct {
	model  *pipeline.Model
	desc   pipeline.Description
	header []string
	kinds  []string // per column of header: numeric, categorical, group
}

func load(path string) (*loaded, error) {
	m, err := pipeline.LoadModel(path)
	if err != nil {
		return nil, err
	}
	l := &loaded{model: m, desc: m.Describe()}
	for _, in := range l.desc.Inputs.List {
		l.header = append(l.header, in.Name)
		l.kinds = append(l.kinds, in.Kind)
	}
	return l, nil
}

// Server answers predictions for one model file over HTTP, batching the
// rows of concurrent requests into one run of the model on its backend.
type Server struct {
	path    string
	backend backend.Backend
	opts    Options
	log     *slog.Logger
	model   atomic.Pointer[loaded]
	metrics *metrics
	jobs    chan *job
	done    chan struct{} // closed when the batch loop has stopped
	mu      sync.RWMutex  // guards closed against sends on jobs
	closed  bool
	http    *http.Server
}

// New loads the model file at path and starts the batch loop, which runs
// the model on b; Close stops it.
func New(path string, b backend.Backend, o Options) (*Server, error) {
	if o.MaxBatch < 1 || o.MaxWait < 0 || o.MaxBody < 1 {
		return nil, fmt.Errorf("serve: max batch %d, max wait %v and max body %d must be positive", o.MaxBatch, o.MaxWait, o.MaxBody)
	}
	l, err := load(path)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{path: path, backend: b, opts: o, log: log, metrics: newMetrics(), jobs: make(chan *job), done: make(chan struct{})}
	s.model.Store(l)
	go s.batchLoop()
	return s, nil
}

// Reload reads the model file again and serves it from the next batch
// on. When the file cannot be loaded, the model served so far stays and
// the error is returned.
func (s *Server) Reload() error {
	l, err := load(s.path)
	s.metrics.reload(err == nil)
	if err != nil {
		s.log.Error("reload failed; serving the previous model", "file", s.path, "err", err)
		return err
	}
	s.model.Store(l)
	s.log.Info("model reloaded", "file", s.path, "tasks", len(l.desc.Tasks))
	return nil
}

// Handler returns the HTTP handler: POST /v1/predict, GET /v1/model,
// GET /healthz and GET /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/predict", s.instrument("/v1/predict", s.predict))
	mux.Handle("GET /v1/model", s.instrument("/v1/model", s.describe))
	mux.Handle("GET /healthz", s.instrument("/healthz", func(w http.ResponseWriter, r *http.Request) int {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := s.metrics.write(w); err != nil {
			s.log.Debug("writing metrics", "err", err)
		}
	})
	return mux
}

// instrument counts and times a handler that returns its status code.
func (s *Server) instrument(name string, h func(http.ResponseWriter, *http.Request) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := h(w, r)
		d := time.Since(start)
		s.metrics.request(name, code, d)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "code", code, "seconds", d.Seconds(), "remote", r.RemoteAddr)
	})
}

// Serve answers requests on ln until Shutdown; it returns
// http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s.http.Serve(ln)
}

// Shutdown stops accepting connections, waits for the requests in flight
// to be answered (or ctx to end), then stops the batch loop.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	s.Close()
	return err
}

// Close stops the batch loop once the requests it holds are answered. A
// request made after Close is answered 503.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
	s.mu.Unlock()
	<-s.done
}

// describe answers GET /v1/model.
func (s *Server) describe(w http.ResponseWriter, r *http.Request) int {
	return writeJSON(w, http.StatusOK, s.model.Load().desc)
}

// writeJSON writes v with the status code and returns the code.
func writeJSON(w http.ResponseWriter, code int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
	return code
}

// writeError answers an error as {"error": message}.
func writeError(w http.ResponseWriter, code int, err error) int {
	return writeJSON(w, code, map[string]string{"error": err.Error()})
}

// errClosed answers requests that arrive after Close.
var errClosed = errors.New("the server is shutting down")

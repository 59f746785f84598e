package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mtl-gpu/mtl-gpu/serve"
	"github.com/spf13/cobra"
)

// shutdownGrace bounds how long SIGTERM waits for the requests in flight.
const shutdownGrace = time.Minute

func (a *app) serveCommand() *cobra.Command {
	var modelPath, addr string
	o := serve.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "serve --model MODEL [--addr 127.0.0.1:8080]",
		Short: "Answer predictions over HTTP",
		Long: `serve answers predictions of a model over HTTP, on loopback unless --addr
says otherwise:

  POST /v1/predict  a JSON array of rows (objects keyed by column name)
                    → {"predictions": [...]}, one object per row with the
                    columns predict writes
  GET  /v1/model    the model's tasks and inputs
  GET  /healthz     health
  GET  /metrics     request counts and latencies (Prometheus text format)

Concurrent requests are batched into one forward pass (up to --max-batch
rows, gathered for up to --max-wait). A bad request gets 400 with a message
naming the row (0-based) and column. SIGHUP reloads the model file (a file
that fails to load leaves the old model serving); SIGTERM or Ctrl-C stops
accepting connections and answers the requests in flight first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelPath == "" {
				return usageError("--model is required")
			}
			if o.MaxBatch < 1 || o.MaxWait < 0 || o.MaxBody < 1 {
				return usageError("--max-batch and --max-body must be at least 1 and --max-wait at least 0")
			}
			o.Log = a.log
			return a.serve(modelPath, addr, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelPath, "model", "", "model file written by train")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	f.IntVar(&o.MaxBatch, "max-batch", o.MaxBatch, "rows above which a batch takes no more requests (1: no batching)")
	f.DurationVar(&o.MaxWait, "max-wait", o.MaxWait, "how long a batch's first request waits for others")
	f.Int64Var(&o.MaxBody, "max-body", o.MaxBody, "largest request body in bytes")
	return cmd
}

// serve runs the server until SIGTERM or Ctrl-C, reloading on SIGHUP.
func (a *app) serve(modelPath, addr string, o serve.Options) error {
	b, err := a.openDevice()
	if err != nil {
		return err
	}
	defer b.Close()
	srv, err := serve.New(modelPath, b, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(signals)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.log.Info("serving", "addr", ln.Addr().String(), "model", modelPath, "max_batch", o.MaxBatch, "max_wait", o.MaxWait)
	for {
		select {
		case err := <-served:
			srv.Close()
			return err
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				srv.Reload() // logs the outcome; a failure keeps the old model
				continue
			}
			a.log.Info("shutting down: answering the requests in flight", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			err := srv.Shutdown(ctx)
			cancel()
			if served := <-served; !errors.Is(served, http.ErrServerClosed) && err == nil {
				err = served
			}
			a.log.Info("stopped")
			return err
		}
	}
}

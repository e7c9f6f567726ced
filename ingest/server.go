package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ServerOptions bounds the connections of Serve. Zero fields take DefaultServerOptions' values.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers, including the wait for the first
	// byte on a new connection (default 5s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default 30s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answer once the handler is done; the server's deadline
	// is ReadTimeout + the handler's RequestTimeout + WriteTimeout (default 10s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle that long (default 30s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 16 KiB).
	MaxHeaderBytes int
	// MaxConns caps open connections (default 512, and at most the open-file limit less 64).
	// At the cap a new connection makes room by closing the connection that has been idle or
	// waiting for its request headers longest, else the one that has been receiving a body
	// longest; when every connection is busy publishing, it is answered 503 and closed.
	MaxConns int
	// DrainDelay is how long /readyz answers 503 before the listener closes on shutdown, so
	// load balancers stop sending traffic first (default 5s).
	DrainDelay time.Duration
	// Grace bounds the rest of the shutdown: running requests and their publishes (default
	// 30s). Publishes still running after it are cancelled.
	Grace time.Duration
	// Registerer receives the connection metrics (nil: not registered).
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// DefaultServerOptions returns the defaults.
func DefaultServerOptions() ServerOptions {
	return ServerOptions{
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10, MaxConns: 512,
		DrainDelay: 5 * time.Second, Grace: 30 * time.Second,
	}
}

// perConnBytes is what an open connection costs besides its headers: a goroutine stack,
// net/http's read and write buffers (4 KiB each) and its own state.
const perConnBytes = 32 << 10

// Memory returns the most memory open connections take: MaxConns times the headers (plus
// net/http's 4 KiB slack) and the per-connection cost.
func (s ServerOptions) Memory() int64 {
	return int64(s.MaxConns) * int64(s.MaxHeaderBytes+4096+perConnBytes)
}

func (s ServerOptions) withDefaults() ServerOptions {
	d := DefaultServerOptions()
	orDefault(&s.ReadHeaderTimeout, d.ReadHeaderTimeout)
	orDefault(&s.ReadTimeout, d.ReadTimeout)
	orDefault(&s.WriteTimeout, d.WriteTimeout)
	orDefault(&s.IdleTimeout, d.IdleTimeout)
	orDefault(&s.DrainDelay, d.DrainDelay)
	orDefault(&s.Grace, d.Grace)
	orDefault(&s.MaxHeaderBytes, d.MaxHeaderBytes)
	orDefault(&s.MaxConns, d.MaxConns)
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Validate reports an option that cannot work.
func (s ServerOptions) Validate() error {
	for _, d := range []time.Duration{s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.DrainDelay, s.Grace} {
		if d < 0 {
			return errors.New("ingest: server timeouts must not be negative")
		}
	}
	if s.MaxHeaderBytes < 0 || s.MaxConns < 0 {
		return errors.New("ingest: server limits must not be negative")
	}
	return nil
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: /readyz answers 503 for
// DrainDelay while requests are still served, then the listener closes, running requests get
// up to Grace to finish, and publishes that outlived their requests are waited for within the
// same Grace. It returns once everything has ended.
func Serve(ctx context.Context, ln net.Listener, h *Handler, so ServerOptions) error {
	if err := so.Validate(); err != nil {
		return err
	}
	so = so.withDefaults()
	if n := openFileLimit(); n > 0 && so.MaxConns > n-64 {
		so.Log.Warn("ingest: the open-file limit caps connections", "max_conns", max(n-64, 1), "asked", so.MaxConns, "nofile", n)
		so.MaxConns = max(n-64, 1)
	}
	lim, err := newConnLimiter(ln, so.MaxConns, so.Registerer)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: so.ReadHeaderTimeout,
		ReadTimeout:       so.ReadTimeout,
		WriteTimeout:      so.ReadTimeout + h.o.Limits.RequestTimeout + so.WriteTimeout,
		IdleTimeout:       so.IdleTimeout,
		MaxHeaderBytes:    so.MaxHeaderBytes,
		ConnState:         lim.track,
		ConnContext:       lim.connContext,
		ErrorLog:          slog.NewLogLogger(so.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lim) }()
	select {
	case err := <-errc:
		h.Close()
		return err
	case <-ctx.Done():
	}
	h.SetStopping()
	srv.SetKeepAlivesEnabled(false) // answers during the drain tell clients to reconnect
	select {
	case <-time.After(so.DrainDelay):
	case err := <-errc:
		h.Close()
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), so.Grace)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if serr != nil {
		_ = srv.Close()
	}
	werr := h.Wait(sctx)
	h.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if serr != nil || werr != nil {
		return fmt.Errorf("ingest: shutdown did not finish within %v (requests: %v, publishes: %v)", so.Grace, serr, werr)
	}
	return nil
}

// Package servertest runs a real Better-State server for tests: a real
// SQLite file in the test's temp dir, a real listener on 127.0.0.1, real
// WebSocket connections. Applications may use it in their own tests.
package servertest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/server"
)

// DevKey is the admin key of namespace "default" that test servers accept.
const DevKey = "bs-test-dev-key"

// Option configures a test server.
type Option func(*options)

type options struct {
	register []func(*contract.Registry)
	config   func(*server.Config)
	dbPath   string
}

// Register adds a schema package's Register function.
func Register(fn func(*contract.Registry)) Option {
	return func(o *options) { o.register = append(o.register, fn) }
}

// Config edits the server's configuration before each start.
func Config(fn func(*server.Config)) Option {
	return func(o *options) { o.config = fn }
}

// DBPath sets the database file (default: server.db in t.TempDir()).
func DBPath(path string) Option {
	return func(o *options) { o.dbPath = path }
}

// Server is a running test server.
type Server struct {
	URL     string // ws://127.0.0.1:PORT/v1/ws
	HTTPURL string // http://127.0.0.1:PORT
	Addr    string // 127.0.0.1:PORT
	Key     string // DevKey
	DBPath  string

	t    testing.TB
	opts options

	mu  sync.Mutex
	srv *server.Server
	hs  *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.dbPath == "" {
		o.dbPath = filepath.Join(t.TempDir(), "server.db")
	}
	s := &Server{t: t, opts: o, DBPath: o.dbPath, Key: DevKey}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	s.URL = "ws://" + s.Addr + "/v1/ws"
	s.HTTPURL = "http://" + s.Addr
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// Server returns the running server (nil while stopped).
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// CreateKey makes an API key of namespace ns with role server.RoleAdmin or
// server.RoleClient.
func (s *Server) CreateKey(ns, role string) string {
	s.t.Helper()
	key, err := s.Server().CreateKey(context.Background(), server.KeySpec{Namespace: ns, Role: role})
	if err != nil {
		s.t.Fatalf("servertest: creating a key: %v", err)
	}
	return key
}

// RevokeKey revokes key.
func (s *Server) RevokeKey(key string) {
	s.t.Helper()
	if err := s.Server().RevokeKey(context.Background(), key); err != nil {
		s.t.Fatalf("servertest: revoking a key: %v", err)
	}
}

func (s *Server) serve(ln net.Listener) {
	reg := contract.NewRegistry()
	for _, f := range s.opts.register {
		f(reg)
	}
	cfg := server.Config{
		DBPath:   s.DBPath,
		Registry: reg,
		DevKey:   DevKey,
		Logger:   slog.New(slog.NewTextHandler(testWriter{s.t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if s.opts.config != nil {
		s.opts.config(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		s.t.Fatalf("servertest: %v", err)
	}
	hs := srv.HTTPServer()
	s.mu.Lock()
	s.srv, s.hs, s.ln = srv, hs, ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		hs.Serve(srv.Listener(ln))
	}()
}

// Stop shuts the server down gracefully. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, hs := s.srv, s.hs
	s.srv, s.hs, s.ln = nil, nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(ctx)
	if err := srv.Close(); err != nil {
		s.t.Errorf("servertest: close: %v", err)
	}
	s.wg.Wait()
}

// Resume starts a stopped server again on the same address and database.
func (s *Server) Resume() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		ln, err = net.Listen("tcp", s.Addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("servertest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(ln)
}

// Restart stops the server and starts it again on the same file and address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Resume()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(string(p))
	return len(p), nil
}

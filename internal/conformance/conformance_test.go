package conformance

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/proctest"
	"go.uber.org/goleak"
)

// Against an external server:
//
//	go test ./internal/conformance -conformance.url=ws://host:port/v1/ws -conformance.key=KEY \
//	    [-conformance.other-key=KEY] [-conformance.foreign-key=KEY] [-conformance.max-frame=N] ...
//
// Without -conformance.url the test builds the todos example server, runs it
// on loopback with low limits, and stops it at the end (shutting_down).
var (
	flagURL        = flag.String("conformance.url", "", "WebSocket URL of an external server (ws://host:port/v1/ws); empty: build and start the todos server")
	flagHTTP       = flag.String("conformance.http", "", "REST base URL of the external server (default: from -conformance.url)")
	flagKey        = flag.String("conformance.key", "", "admin key of namespace default on the external server")
	flagOtherKey   = flag.String("conformance.other-key", "", "a client key of namespace default with another actor")
	flagForeignKey = flag.String("conformance.foreign-key", "", "a key of another namespace")
	flagOrigin     = flag.String("conformance.allowed-origin", "", "a host of the server's --allowed-origins")
	flagMaxFrame   = flag.Int64("conformance.max-frame", 0, "the server's --max-frame (0: unknown)")
	flagRate       = flag.Float64("conformance.rate", 0, "the server's --rate")
	flagBurst      = flag.Int("conformance.burst", 0, "the server's --burst")
	flagSubRate    = flag.Float64("conformance.sub-rate", 0, "the server's --sub-rate")
	flagMaxKeys    = flag.Int("conformance.max-keys", 0, "the server's --max-keys-per-conn")
	flagPing       = flag.Duration("conformance.ping", 0, "the server's --ping")
	flagMaxConns   = flag.Int("conformance.max-conns", 0, "the server's --max-conns")
	flagHashEvery  = flag.Int("conformance.hash-every", 0, "the server's --hash-every")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The limits the local server runs with: low, so that each error is
// provoked in a few messages, and a ping interval of a second.
var localLimits = Limits{
	MaxFrameBytes:      16 << 10,
	MutationsPerSecond: 20,
	MutationBurst:      16,
	SubsPerSecond:      5,
	MaxKeysPerConn:     4,
	PingInterval:       time.Second,
	MaxConns:           16,
	HashEvery:          3,
	MaxPresenceBytes:   256,
	PresencePerSecond:  8,
	PresenceTick:       100 * time.Millisecond,
}

const localOrigin = "app.example.com"

func TestConformance(t *testing.T) {
	if *flagURL != "" {
		if *flagKey == "" {
			t.Fatal("-conformance.url needs -conformance.key")
		}
		Run(t, Target{
			URL: *flagURL, HTTPURL: *flagHTTP, Key: *flagKey,
			OtherKey: *flagOtherKey, ForeignKey: *flagForeignKey, AllowedOrigin: *flagOrigin,
			Limits: Limits{
				MaxFrameBytes: *flagMaxFrame, MutationsPerSecond: *flagRate, MutationBurst: *flagBurst,
				SubsPerSecond: *flagSubRate, MaxKeysPerConn: *flagMaxKeys, PingInterval: *flagPing,
				MaxConns: *flagMaxConns, HashEvery: *flagHashEvery,
			},
		})
		return
	}
	start := time.Now()
	bin := proctest.Build(t, "github.com/better-state/better-state/internal/conformance/server")
	srv := startServer(t, bin, localLimits)
	t.Logf("server built and started in %s", time.Since(start).Round(time.Millisecond))
	t.Run("quotas", func(t *testing.T) {
		// A second server with tight quotas, for the errors that would
		// get in the way of every other case.
		RunQuotas(t, startServer(t, bin, quotaLimits, "--ns-byte-rate", "1e9").target)
	})
	Run(t, srv.target)
	if !srv.stopping.Load() {
		return // shutting_down did not get as far; the cleanup stops it
	}
	// Run ended with shutting_down: the server exits, and cleanly.
	select {
	case <-srv.exited:
		if srv.waitErr != nil {
			t.Errorf("the server exited with %v after SIGTERM\n%s", srv.waitErr, srv.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("the server did not exit within 20 s of SIGTERM")
	}
}

// localServer is a todos server process this test owns.
type localServer struct {
	bin, db string
	cmd     *exec.Cmd
	target  Target
	logs    *lockedBuffer
	exited  chan struct{}
	waitErr error
	// stopping is set once Shutdown has sent SIGTERM.
	stopping atomic.Bool
}

// Shutdown sends SIGTERM.
func (s *localServer) Shutdown() error {
	s.stopping.Store(true)
	return s.cmd.Process.Signal(syscall.SIGTERM)
}

// Revoke revokes key with the keys subcommand, on the running server's
// database.
func (s *localServer) Revoke(key string) error {
	out, err := exec.Command(s.bin, "keys", "revoke", "--db", s.db, key).CombinedOutput()
	if err != nil {
		return fmt.Errorf("keys revoke: %v: %s", err, out)
	}
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// quotaLimits are those of the second server, for RunQuotas.
var quotaLimits = Limits{NamespaceMaxKeys: 3, MaxRooms: 2, SendQueue: 8, KeyMutationsPerSec: 10, SubsPerSecond: 1000, MaxFrameBytes: 2 << 20}

func startServer(t *testing.T, bin string, l Limits, extra ...string) *localServer {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "todos.db")
	key := func(args ...string) string {
		out, err := exec.Command(bin, append([]string{"keys", "create", "--db", db}, args...)...).Output()
		if err != nil {
			t.Fatalf("keys create %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	other := key("--role", "client", "--actor", "other-actor")
	foreign := key("--ns", "elsewhere", "--role", "client", "--actor", "foreigner")
	revocable := key("--role", "client", "--actor", "revocable")
	var kb [12]byte
	rand.Read(kb[:])
	devKey := "dev-" + hex.EncodeToString(kb[:])

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{
		"--addr", addr, "--db", db, "--dev-key", devKey, "--log-level", "warn", "--sync", "normal",
		"--max-frame", fmt.Sprint(l.MaxFrameBytes),
		"--rate", fmt.Sprint(l.MutationsPerSecond), "--burst", fmt.Sprint(l.MutationBurst),
		"--sub-rate", fmt.Sprint(l.SubsPerSecond),
		"--max-keys-per-conn", fmt.Sprint(l.MaxKeysPerConn),
		"--ping", l.PingInterval.String(),
		"--max-conns", fmt.Sprint(l.MaxConns),
		"--hash-every", fmt.Sprint(l.HashEvery),
		"--max-presence", fmt.Sprint(l.MaxPresenceBytes),
		"--presence-rate", fmt.Sprint(l.PresencePerSecond),
		"--presence-tick", l.PresenceTick.String(),
		"--allowed-origins", localOrigin,
	}
	if l.NamespaceMaxKeys > 0 {
		args = append(args, "--ns-max-keys", fmt.Sprint(l.NamespaceMaxKeys), "--max-rooms", fmt.Sprint(l.MaxRooms), "--send-queue", fmt.Sprint(l.SendQueue), "--key-rate", fmt.Sprint(l.KeyMutationsPerSec))
	}
	args = append(args, extra...)
	srv := &localServer{bin: bin, db: db, logs: &lockedBuffer{}, exited: make(chan struct{})}
	srv.cmd = exec.Command(bin, args...)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.logs, srv.logs
	if err := srv.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		srv.waitErr = srv.cmd.Wait()
		close(srv.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-srv.exited:
		default:
			srv.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-srv.exited:
			case <-time.After(20 * time.Second):
				srv.cmd.Process.Kill()
				<-srv.exited
				t.Errorf("the server did not stop within 20 s of SIGTERM")
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", srv.logs.String())
		}
	})
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-srv.exited:
			t.Fatalf("the server exited: %v\n%s", srv.waitErr, srv.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %v\n%s", err, srv.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.target = Target{
		URL: "ws://" + addr + "/v1/ws", Key: devKey,
		OtherKey: other, ForeignKey: foreign, RevocableKey: revocable, AllowedOrigin: localOrigin,
		Limits: l, Control: srv,
	}
	return srv
}

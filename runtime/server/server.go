// Package server is the Better-State sync server: a WebSocket endpoint that
// multiplexes keys per connection, REST for health, namespaces, states and
// history, rooms that hold each active key's authoritative state, and a
// durable SQLite event log behind them.
//
// Generated server mains call serve.Main (package runtime/server/serve,
// the command with its flags). A program that embeds the server builds it
// from a Config and serves it with net/http:
//
//	srv, err := server.New(server.Config{
//		DBPath:   "app.db",
//		Registry: contract.NewRegistry(todos.ListType),
//	})
//	if err != nil { ... }
//	defer srv.Close() // after the http.Server has stopped accepting
//	key, err := srv.EnsureAdminKey(ctx) // "" when keys exist already
//	hs := srv.HTTPServer() // timeouts from Config.Limits
//	err = hs.Serve(srv.Listener(ln)) // ln: a net.Listener; Listener caps open connections
//
// Every limit in Limits has a default (DefaultLimits) and an error with a
// stable code that names it (docs/RELIABILITY.md, "Limits").
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/storage"
)

// Limits bound what one client can ask of the server. Every limit has a
// default (applied to zero values) and a flag in Main.
type Limits struct {
	MaxFrameBytes         int64         // largest WebSocket frame or REST body accepted (1 MiB)
	MaxStateBytes         int           // largest encoded state a mutation may produce (16 MiB)
	MaxKeysPerConn        int           // keys one connection may subscribe (1000)
	MutationsPerSecond    float64       // sustained mutations per connection (1000)
	MutationBurst         int           // burst above the sustained rate (2000)
	KeyMutationsPerSec    float64       // sustained mutations per key, from all writers (5000; burst the same)
	MaxConns              int           // concurrent WebSocket connections (20000, at most MaxOpenConns - 32)
	MaxOpenConns          int           // open connections, HTTP and WebSocket, on Listener (the file limit - 64)
	SendQueue             int           // messages waiting for one connection before it is dropped (8192)
	SendBytes             int64         // bytes waiting for one connection before it is dropped (32 MiB; at least MaxStateBytes + MaxFrameBytes + 64 KiB)
	MaxQueuedBytes        int64         // bytes of frames made for single connections waiting, server-wide (256 MiB)
	CatchUpBytes          int64         // a catch-up of more event bytes than this is sent as a snapshot (1 MiB)
	SubsPerSecond         float64       // subscriptions per connection per second (100; burst MaxKeysPerConn+16)
	PageBytes             int64         // a REST history page ends past this many bytes (1 MiB; one event at least)
	BlameBytes            int64         // bytes of values one blame may look at, over all its events (256 MiB)
	MaxNamespaceBytes     int64         // bytes one namespace may store: event rows and snapshots (4 GiB)
	MaxNamespaceKeys      int64         // keys one namespace may hold (100000)
	NamespaceEventsPerSec float64       // events per second into one namespace (50000)
	NamespaceBytesPerSec  float64       // bytes of events per second into one namespace (4 MiB)
	MaxRooms              int           // keys active in memory at once (20000)
	MaxRoomBytes          int64         // estimated bytes of the active keys' states together (256 MiB)
	PingInterval          time.Duration // WebSocket ping period; a peer that does not answer within it is dropped (20s)
	WriteTimeout          time.Duration // one write to a peer (10s)
	HelloTimeout          time.Duration // time to send hello after connecting (5s)
	HTTPReadTimeout       time.Duration // to read one whole REST request, body included (30s)
	HTTPIdleTimeout       time.Duration // a keep-alive HTTP connection with no request is closed (60s)
	MaxPresenceBytes      int           // largest presence of one member, encoded (2 KiB)
	PresencePerSecond     float64       // presence updates per connection per second (30; burst the same)
	PresenceTick          time.Duration // presence changes of a key are sent at most once per tick (50ms)
	ActorMutationsPerSec  float64       // mutations per second of one actor of a namespace, from all its connections and REST (10000; burst the same)
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameBytes:         1 << 20,
		MaxStateBytes:         16 << 20,
		MaxKeysPerConn:        1000,
		MutationsPerSecond:    1000,
		MutationBurst:         2000,
		KeyMutationsPerSec:    5000,
		MaxConns:              20000,
		SendQueue:             8192,
		SendBytes:             32 << 20,
		MaxQueuedBytes:        256 << 20,
		CatchUpBytes:          1 << 20,
		SubsPerSecond:         100,
		PageBytes:             1 << 20,
		BlameBytes:            256 << 20,
		MaxNamespaceBytes:     4 << 30,
		MaxNamespaceKeys:      100000,
		NamespaceEventsPerSec: 50000,
		NamespaceBytesPerSec:  4 << 20,
		MaxRooms:              20000,
		MaxRoomBytes:          256 << 20,
		PingInterval:          20 * time.Second,
		WriteTimeout:          10 * time.Second,
		HelloTimeout:          5 * time.Second,
		HTTPReadTimeout:       30 * time.Second,
		HTTPIdleTimeout:       60 * time.Second,
		MaxPresenceBytes:      2 << 10,
		PresencePerSecond:     30,
		PresenceTick:          50 * time.Millisecond,
		ActorMutationsPerSec:  10000,
	}
}

func (l *Limits) fill() {
	d := DefaultLimits()
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = d.MaxFrameBytes
	}
	if l.MaxStateBytes <= 0 {
		l.MaxStateBytes = d.MaxStateBytes
	}
	if l.MaxKeysPerConn <= 0 {
		l.MaxKeysPerConn = d.MaxKeysPerConn
	}
	if l.MutationsPerSecond <= 0 {
		l.MutationsPerSecond = d.MutationsPerSecond
	}
	if l.MutationBurst <= 0 {
		l.MutationBurst = max(d.MutationBurst, int(l.MutationsPerSecond))
	}
	if l.KeyMutationsPerSec <= 0 {
		l.KeyMutationsPerSec = d.KeyMutationsPerSec
	}
	if l.MaxOpenConns <= 0 {
		l.MaxOpenConns = 1 << 20
		if fd := fdLimit(); fd > 0 {
			// Room for the database, its WAL, logs and the listener.
			l.MaxOpenConns = max(fd-64, 16)
		}
	}
	if l.MaxConns <= 0 {
		// WebSockets leave a few connections to REST and /healthz.
		l.MaxConns = min(d.MaxConns, max(l.MaxOpenConns-32, 1))
	}
	if l.SendQueue <= 0 {
		l.SendQueue = d.SendQueue
	}
	if l.SendBytes <= 0 {
		l.SendBytes = d.SendBytes
	}
	// A snapshot of the largest state must fit, with room for an ev.
	l.SendBytes = max(l.SendBytes, int64(l.MaxStateBytes)+l.MaxFrameBytes+64<<10)
	if l.MaxQueuedBytes <= 0 {
		l.MaxQueuedBytes = d.MaxQueuedBytes
	}
	if l.CatchUpBytes <= 0 {
		l.CatchUpBytes = d.CatchUpBytes
	}
	if l.SubsPerSecond <= 0 {
		l.SubsPerSecond = d.SubsPerSecond
	}
	if l.PageBytes <= 0 {
		l.PageBytes = d.PageBytes
	}
	if l.BlameBytes <= 0 {
		l.BlameBytes = d.BlameBytes
	}
	if l.MaxNamespaceBytes <= 0 {
		l.MaxNamespaceBytes = d.MaxNamespaceBytes
	}
	if l.MaxNamespaceKeys <= 0 {
		l.MaxNamespaceKeys = d.MaxNamespaceKeys
	}
	if l.NamespaceEventsPerSec <= 0 {
		l.NamespaceEventsPerSec = d.NamespaceEventsPerSec
	}
	if l.NamespaceBytesPerSec <= 0 {
		l.NamespaceBytesPerSec = d.NamespaceBytesPerSec
	}
	if l.MaxRooms <= 0 {
		l.MaxRooms = d.MaxRooms
	}
	if l.MaxRoomBytes <= 0 {
		l.MaxRoomBytes = d.MaxRoomBytes
	}
	if l.PingInterval <= 0 {
		l.PingInterval = d.PingInterval
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.HelloTimeout <= 0 {
		l.HelloTimeout = d.HelloTimeout
	}
	if l.HTTPReadTimeout <= 0 {
		l.HTTPReadTimeout = d.HTTPReadTimeout
	}
	if l.MaxPresenceBytes <= 0 {
		l.MaxPresenceBytes = d.MaxPresenceBytes
	}
	if l.PresencePerSecond <= 0 {
		l.PresencePerSecond = d.PresencePerSecond
	}
	if l.PresenceTick <= 0 {
		l.PresenceTick = d.PresenceTick
	}
	if l.ActorMutationsPerSec <= 0 {
		l.ActorMutationsPerSec = d.ActorMutationsPerSec
	}
	if l.HTTPIdleTimeout <= 0 {
		l.HTTPIdleTimeout = d.HTTPIdleTimeout
	}
}

// Config configures a Server.
type Config struct {
	// DBPath is the SQLite file (created if missing), or the URL of a
	// PostgreSQL database (postgres://...) that several servers may share.
	// Required.
	DBPath string
	// Sync is the SQLite durability, "full" (default) or "normal".
	Sync string
	// MaxBatch bounds group commit (default 512; 1 = one transaction per write).
	MaxBatch int
	// Registry holds the served state types. Required.
	Registry *contract.Registry
	// DevKey, if set, is accepted as an admin key of namespace "default".
	DevKey string
	// Tokens, if set, verify end-user tokens (JWTs with grants; see
	// LoadTokenKeys and MintToken). Without it, only API keys are taken.
	Tokens *TokenKeys
	// Logger receives the server's logs (default: slog.Default()).
	Logger *slog.Logger
	// SnapshotEvery is the number of events between snapshots of a key (default 500).
	SnapshotEvery int
	// KeepSnapshots is how many snapshots of a key are kept (default 3).
	KeepSnapshots int
	// KeepEvents, if > 0, compacts a key's log at each snapshot, keeping
	// this many events below the snapshot. 0 keeps every event.
	KeepEvents int
	// HashEvery is the number of events between state hashes in ev (default 100; <0 turns them off).
	HashEvery int
	// RoomIdle is how long a key without subscribers stays in memory (default 1m).
	RoomIdle time.Duration
	// OriginPatterns lists the browser origins allowed to open WebSockets
	// and to call REST across origins (CORS): host patterns as in
	// path.Match, or scheme://host patterns. Requests without Origin are
	// always allowed.
	OriginPatterns []string
	// Inspect serves the inspector, a web page for reading keys, their
	// timelines and the blame of their fields, at /inspect/ (off by
	// default). The page has no data of its own: it reads with the
	// credential its user types.
	Inspect bool
	// Static, if set, serves the requests for paths the server does not
	// (a web app's page and files: serve's --web). The API, /healthz and
	// /inspect/ come first.
	Static http.Handler
	Limits Limits

	// synchronous and clock are set by internal/simhook.Synchronous for
	// the deterministic simulation: rooms run on the caller's goroutine,
	// and clock (default time.Now) stamps events and paces rate limits.
	synchronous bool
	clock       func() time.Time
}

// Server serves Better-State over HTTP and WebSocket.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store storage.Store
	// shared is the store when other servers share it (PostgreSQL):
	// follow.go keeps the active rooms up with what they write.
	shared     storage.Shared
	heads      chan struct{} // a check of every active room's head is due
	followStop chan struct{}
	followWG   sync.WaitGroup
	reg        *contract.Registry
	auth       *authenticator
	// life ends when Close starts: rooms load and read under it, so that
	// Close need not wait for a long replay. Writes do not use it: what a
	// room applied is committed before Close returns.
	life    context.Context
	endLife context.CancelFunc

	roomsMu sync.Mutex
	rooms   map[roomID]*room
	roomsWG sync.WaitGroup
	syncMu  sync.Mutex // serializes rooms in synchronous mode

	connsMu  sync.Mutex
	conns    map[*conn]struct{}
	byClient map[clientID]*conn // the live connection of each client id
	serials  atomic.Uint64      // numbers connections in the order they were upgraded
	actors   actorLimits        // per-actor mutation rates (rules.go)
	owners   owners
	nconns   atomic.Int64
	connsWG  sync.WaitGroup

	janitorStop chan struct{}
	janitorWG   sync.WaitGroup

	fault     atomic.Pointer[storageFault]
	queued    atomic.Int64 // bytes of frames made for single connections, waiting
	roomBytes atomic.Int64 // estimated bytes held by active rooms
	conncap   connCap
	pages     chan struct{}               // long reads (history, diff, blame) at once
	heavyNS   [heavyStripes]chan struct{} // one long read per namespace (stripe) at once
	quotasMu  sync.Mutex
	quotas    map[string]*nsQuota
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	mux       *http.ServeMux
	handler   http.Handler // mux behind CORS
}

// New opens the store and returns a server ready to serve Handler.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("server: Config.Registry is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 500
	}
	if cfg.KeepSnapshots <= 0 {
		cfg.KeepSnapshots = 3
	}
	if cfg.HashEvery == 0 {
		cfg.HashEvery = 100
	}
	if cfg.RoomIdle <= 0 {
		cfg.RoomIdle = time.Minute
	}
	if cfg.clock == nil {
		cfg.clock = time.Now
	}
	cfg.Limits.fill()
	if cfg.DBPath == "" {
		return nil, errors.New("server: Config.DBPath is required")
	}
	st, err := openStore(cfg.DBPath, storage.SQLiteOptions{Sync: cfg.Sync, MaxBatch: cfg.MaxBatch, Exclusive: true})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	life, endLife := context.WithCancel(context.Background())
	s := &Server{
		life:    life,
		endLife: endLife,
		cfg:     cfg,
		log:     cfg.Logger,
		store:   st,
		reg:     cfg.Registry,
		rooms:   map[roomID]*room{},
		conns:   map[*conn]struct{}{},

		byClient: map[clientID]*conn{},
		quotas:   map[string]*nsQuota{},
		pages:    make(chan struct{}, max(2, runtime.GOMAXPROCS(0)/2)),
	}
	for i := range s.heavyNS {
		s.heavyNS[i] = make(chan struct{}, 1)
	}
	s.conncap.max = cfg.Limits.MaxOpenConns
	s.auth = newAuthenticator(st, cfg.DevKey, cfg.Tokens, s.now)
	if cfg.DevKey != "" {
		if err := st.EnsureNamespace(context.Background(), DefaultNamespace); err != nil {
			st.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	if sh, ok := st.(storage.Shared); ok {
		s.shared = sh
		s.heads = make(chan struct{}, 1)
		s.followStop = make(chan struct{})
		s.followWG.Add(1)
		go s.followOthers()
		sh.Watch(s.heard)
	}
	s.routes()
	s.janitorStop = make(chan struct{})
	s.janitorWG.Add(1)
	go s.janitor()
	return s, nil
}

// HTTPServer returns an http.Server for Handler with the timeouts that
// keep slow or idle peers from holding connections: headers within 10 s,
// a whole request (body included) within Limits.HTTPReadTimeout, an answer
// written within twice that, idle keep-alive connections closed after
// Limits.HTTPIdleTimeout, headers of at most 64 KiB. WebSockets are not
// bound by them: upgrading clears the connection's deadlines.
func (s *Server) HTTPServer() *http.Server {
	l := s.cfg.Limits
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: min(10*time.Second, l.HTTPReadTimeout),
		ReadTimeout:       l.HTTPReadTimeout,
		WriteTimeout:      2 * l.HTTPReadTimeout,
		IdleTimeout:       l.HTTPIdleTimeout,
		ConnState:         s.connState,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Handler returns the server's HTTP handler: /healthz, /v1/ws and the REST API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the server gracefully: WebSocket connections are closed with
// "shutting_down", every room commits what it has applied, and the store is
// flushed and closed. The HTTP listener is the caller's to stop first.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.endLife() // loads and reads in progress stop; writes finish
		s.connsMu.Lock()
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.connsMu.Unlock()
		for _, c := range conns {
			c.fail(errShuttingDown)
		}
		s.connsWG.Wait()
		close(s.janitorStop)
		s.janitorWG.Wait()
		if s.followStop != nil {
			close(s.followStop)
			s.followWG.Wait()
		}
		s.roomsMu.Lock()
		rooms := make([]*room, 0, len(s.rooms))
		for _, r := range s.rooms {
			rooms = append(rooms, r)
		}
		s.roomsMu.Unlock()
		for _, r := range rooms {
			r.stop()
		}
		s.roomsWG.Wait()
		s.closeErr = s.store.Close()
	})
	return s.closeErr
}

// Package serve is the Better-State server command: flags, environment,
// signals, the CPU profile and the keys subcommand, around runtime/server.
// Generated server mains call Main.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/better-state/better-state/clients/browser"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/storage"
)

// Main is the whole server command: generated server mains call it with
// os.Args[1:] and their packages' Register functions, and exit with its
// result.
//
//	server [serve] [flags]                      run the server (the default)
//	server keys create [--ns NS] [--actor A] [--role admin|client]
//	server keys list
//	server keys revoke ID
//	server tokens mint --ns NS --actor A --grant PATTERN:MODE --ttl 1h --token-secret-file F
func Main(args []string, register ...func(*contract.Registry)) int {
	return mainIO(args, os.Stdout, os.Stderr, register...)
}

func mainIO(args []string, stdout, stderr io.Writer, register ...func(*contract.Registry)) int {
	reg := contract.NewRegistry()
	for _, f := range register {
		f(reg)
	}
	if len(args) > 0 && args[0] == "keys" {
		return keysCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "tokens" {
		return tokensCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	return serveCmd(args, reg, stdout, stderr)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serveCmd(args []string, reg *contract.Registry, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := server.DefaultLimits()
	addr := fs.String("addr", envOr("BS_ADDR", "127.0.0.1:8080"), "address to listen on (env BS_ADDR)")
	db := fs.String("db", envOr("BS_DB", "./better-state.db"), "SQLite database file, or postgres://USER@HOST/DB to share a PostgreSQL database with other servers (env BS_DB)")
	devKey := fs.String("dev-key", os.Getenv("BS_DEV_KEY"), "accept this key as an admin key of namespace \"default\" (env BS_DEV_KEY); for development and tests")
	sync := fs.String("sync", "full", "durability: full (fsync per commit) or normal")
	snapEvery := fs.Int("snapshot-every", 500, "events between snapshots of a key")
	keep := fs.Int("keep-events", 0, "compact each key's log at snapshots, keeping this many events below the snapshot (0 keeps all)")
	hashEvery := fs.Int("hash-every", 100, "events between state hashes sent to clients (-1: none)")
	maxBatch := fs.Int("max-batch", 512, "largest group commit, in room batches (1: one transaction per batch)")
	roomIdle := fs.Duration("room-idle", time.Minute, "how long a key without subscribers stays in memory")
	maxFrame := fs.Int64("max-frame", d.MaxFrameBytes, "largest WebSocket frame or REST body, bytes")
	maxState := fs.Int("max-state", d.MaxStateBytes, "largest encoded state, bytes")
	maxKeys := fs.Int("max-keys-per-conn", d.MaxKeysPerConn, "keys one connection may subscribe")
	rate := fs.Float64("rate", d.MutationsPerSecond, "mutations per second per connection")
	burst := fs.Int("burst", d.MutationBurst, "mutation burst per connection")
	keyRate := fs.Float64("key-rate", d.KeyMutationsPerSec, "mutations per second per key, from all writers together")
	actorRate := fs.Float64("actor-rate", d.ActorMutationsPerSec, "mutations per second per actor of a namespace, from all its connections and REST together")
	maxConns := fs.Int("max-conns", 0, "concurrent WebSocket connections (default 20000, at most --max-open-conns - 32)")
	maxOpen := fs.Int("max-open-conns", 0, "open connections, HTTP and WebSocket together (default: the file limit - 64)")
	sendQueue := fs.Int("send-queue", d.SendQueue, "messages waiting for one connection before it is dropped as too slow")
	ping := fs.Duration("ping", d.PingInterval, "WebSocket ping interval; a peer silent for that long is dropped")
	sendBytes := fs.Int64("send-bytes", d.SendBytes, "bytes waiting for one connection before it is dropped as too slow (at least --max-state + --max-frame + 64 KiB)")
	maxQueued := fs.Int64("max-queued-bytes", d.MaxQueuedBytes, "bytes of frames made for single connections (catch-ups, errors) waiting, server-wide")
	catchUp := fs.Int64("catch-up-bytes", d.CatchUpBytes, "a catch-up of more event bytes than this is sent as a snapshot")
	subRate := fs.Float64("sub-rate", d.SubsPerSecond, "subscriptions per second per connection (burst: --max-keys-per-conn + 16)")
	pageBytes := fs.Int64("page-bytes", d.PageBytes, "a REST history page ends past this many bytes")
	blameBytes := fs.Int64("blame-bytes", d.BlameBytes, "bytes of values one blame may look at, over all its events")
	maxRooms := fs.Int("max-rooms", d.MaxRooms, "keys active in memory at once; idle ones are evicted to make room")
	maxRoomBytes := fs.Int64("max-room-bytes", d.MaxRoomBytes, "estimated bytes of the active keys' states together")
	nsBytes := fs.Int64("ns-max-bytes", d.MaxNamespaceBytes, "bytes one namespace may store (events and snapshots)")
	nsKeys := fs.Int64("ns-max-keys", d.MaxNamespaceKeys, "keys one namespace may hold")
	nsEvents := fs.Float64("ns-event-rate", d.NamespaceEventsPerSec, "events per second into one namespace")
	nsVolume := fs.Float64("ns-byte-rate", d.NamespaceBytesPerSec, "bytes of events per second into one namespace")
	keepSnaps := fs.Int("keep-snapshots", 3, "snapshots kept per key")
	httpRead := fs.Duration("http-read-timeout", d.HTTPReadTimeout, "time to read one whole REST request, body included")
	httpIdle := fs.Duration("http-idle-timeout", d.HTTPIdleTimeout, "idle keep-alive HTTP connections are closed after this")
	maxPresence := fs.Int("max-presence", d.MaxPresenceBytes, "largest presence of one member, bytes")
	presenceRate := fs.Float64("presence-rate", d.PresencePerSecond, "presence updates per second per connection")
	presenceTick := fs.Duration("presence-tick", d.PresenceTick, "presence changes of a key are sent at most once per tick")
	tokenSecret := fs.String("token-secret-file", "", "file holding the HS256 secret (32 bytes or more) of end-user tokens")
	tokenPublic := fs.String("token-public-key-file", "", "PEM file of the Ed25519 (EdDSA) or RSA (RS256) public key of end-user tokens")
	tokenJWKS := fs.String("token-jwks-file", "", "JSON Web Key Set of the Ed25519 and RSA public keys of end-user tokens, chosen by each token's kid")
	origins := fs.String("allowed-origins", "", "comma-separated browser origins (host patterns, or scheme://host patterns) allowed to open WebSockets and to call REST (CORS)")
	web := fs.String("web", "", "serve a web app's files from this directory at / (and better-state.js, the browser client's loader), e.g. examples/todos/web")
	inspect := fs.Bool("inspect", false, "serve the inspector, a web page of the keys, their timelines and the blame of their fields, at /inspect/")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "bad --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if len(reg.Names()) == 0 {
		fmt.Fprintln(stderr, "no state types registered: pass your schema package's Register to serve.Main")
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "--cpuprofile: %v\n", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "--cpuprofile: %v\n", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var originList []string
	if *origins != "" {
		originList = strings.Split(*origins, ",")
	}
	tokens, err := server.LoadTokenKeys(*tokenSecret, *tokenPublic)
	if err == nil && *tokenJWKS != "" {
		if tokens != nil {
			err = errors.New("tokens: give one of --token-secret-file, --token-public-key-file and --token-jwks-file")
		} else {
			tokens, err = server.LoadTokenJWKS(*tokenJWKS)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	static, err := webHandler(*web)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	srv, err := server.New(server.Config{
		Tokens: tokens,
		DBPath: *db, Sync: *sync, MaxBatch: *maxBatch, Registry: reg, DevKey: *devKey, Logger: log,
		SnapshotEvery: *snapEvery, KeepEvents: *keep, KeepSnapshots: *keepSnaps, HashEvery: *hashEvery, RoomIdle: *roomIdle,
		OriginPatterns: originList, Inspect: *inspect, Static: static,
		Limits: server.Limits{
			MaxFrameBytes: *maxFrame, MaxStateBytes: *maxState, MaxKeysPerConn: *maxKeys,
			MutationsPerSecond: *rate, MutationBurst: *burst, KeyMutationsPerSec: *keyRate, MaxConns: *maxConns, MaxOpenConns: *maxOpen,
			SendQueue: *sendQueue, PingInterval: *ping,
			HTTPReadTimeout: *httpRead, HTTPIdleTimeout: *httpIdle,
			ActorMutationsPerSec: *actorRate,
			MaxPresenceBytes:     *maxPresence, PresencePerSecond: *presenceRate, PresenceTick: *presenceTick,
			SendBytes: *sendBytes, MaxQueuedBytes: *maxQueued, CatchUpBytes: *catchUp, SubsPerSecond: *subRate,
			PageBytes: *pageBytes, BlameBytes: *blameBytes, MaxRooms: *maxRooms, MaxRoomBytes: *maxRoomBytes,
			MaxNamespaceBytes: *nsBytes, MaxNamespaceKeys: *nsKeys, NamespaceEventsPerSec: *nsEvents, NamespaceBytesPerSec: *nsVolume,
		},
	})
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	if *devKey == "" {
		if key, err := srv.EnsureAdminKey(context.Background()); err != nil {
			log.Error("start failed", "err", err)
			srv.Close()
			return 1
		} else if key != "" {
			fmt.Fprintf(stdout, "No API keys existed, so one was made. It is shown only now:\n\n  %s\n\n(admin of namespace %q; manage keys with the \"keys\" subcommand)\n", key, server.DefaultNamespace)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen failed", "addr", *addr, "err", err)
		srv.Close()
		return 1
	}
	hs := srv.HTTPServer()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(srv.Listener(ln)) }()
	log.Info("better-state listening", "addr", ln.Addr().String(), "db", storage.Redact(*db), "types", strings.Join(reg.Names(), ","), "ws", "ws://"+ln.Addr().String()+"/v1/ws")
	if *inspect {
		log.Info("inspector on", "url", "http://"+ln.Addr().String()+"/inspect/")
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		log.Error("serve failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(sctx) // stop accepting; WebSockets are hijacked and closed by srv.Close
	if err := srv.Close(); err != nil {
		log.Error("closing the database failed", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// webFiles are the kinds of file --web serves: a page's, nothing else (a
// database, a source file or a dotfile in the directory stays private).
var webFiles = map[string]string{
	".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".json": "application/json", ".webmanifest": "application/manifest+json",
	".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".jpg": "image/jpeg", ".webp": "image/webp",
	".txt": "text/plain; charset=utf-8", ".map": "application/json",
}

// webHandler serves the page files of dir (see webFiles; no listings, no
// dotfiles, nothing outside dir, symbolic links included), and
// better-state.js from clients/browser; nil for no dir.
func webHandler(dir string) (http.Handler, error) {
	if dir == "" {
		return nil, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("--web: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pages change with every build: revalidate, do not guess.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/better-state.js" {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(browser.Script)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" || strings.HasSuffix(r.URL.Path, "/") {
			name = path.Join(name, "index.html")
		}
		ctype, ok := webFiles[path.Ext(name)]
		for _, seg := range strings.Split(name, "/") {
			if strings.HasPrefix(seg, ".") {
				ok = false
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := root.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		http.ServeContent(w, r, name, st.ModTime(), f)
	}), nil
}

func keysCmd(args []string, stdout, stderr io.Writer) int {
	usage := "usage: keys create [--ns NS] [--actor NAME] [--role admin|client] [--grant PATTERN:MODE]... | keys list | keys revoke ID  (each takes --db)"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", envOr("BS_DB", "./better-state.db"), "SQLite database file, or postgres:// URL")
	ns := fs.String("ns", server.DefaultNamespace, "namespace of the new key")
	actor := fs.String("actor", "", "actor name of the new key (what ctx.Actor() returns; default: the key id)")
	role := fs.String("role", server.RoleClient, "role of the new key: admin or client")
	var grants stringsFlag
	fs.Var(&grants, "grant", "PATTERN:MODE the new key may reach, as list-{actor}-*:rw (repeatable; none: every key of its namespace)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	st, err := server.OpenKeyStore(*db)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer st.Close()
	ctx := context.Background()
	switch args[0] {
	case "create":
		key, err := st.Create(ctx, server.KeySpec{Namespace: *ns, Actor: *actor, Role: *role, Grants: grants})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, key)
		fmt.Fprintf(stderr, "key %s: namespace %s, role %s (the key is shown only now)\n", server.KeyID(key), *ns, *role)
	case "list":
		keys, err := st.List(ctx)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAMESPACE\tACTOR\tROLE\tGRANTS\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if !k.Revoked.IsZero() {
				revoked = k.Revoked.UTC().Format(time.RFC3339)
			}
			gs := "*:rw"
			if k.Grants != nil {
				gs = strings.Join(k.Grants, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Namespace, k.Actor, k.Role, gs, k.Created.UTC().Format(time.RFC3339), revoked)
		}
		tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		if err := st.Revoke(ctx, fs.Arg(0)); err != nil {
			if errors.Is(err, server.ErrNoKey) {
				fmt.Fprintf(stderr, "no active key %q\n", fs.Arg(0))
				return 1
			}
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "revoked %s\n", fs.Arg(0))
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	return 0
}

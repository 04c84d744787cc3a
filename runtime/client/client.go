// Package client is the Better-State client: one WebSocket connection to a
// server, multiplexing stores that apply actions at once, queue them durably,
// and converge with the server through the resync path of docs/PROTOCOL.md.
//
//	c, err := client.New("ws://127.0.0.1:8080/v1/ws", client.Options{APIKey: key, Dir: ".app"})
//	if err != nil { ... } // only for unusable options: New works offline
//	defer c.Close()
//	list, err := client.Open[todos.List](c, todos.ListType, "main")
//	err = list.Mutate(todos.ListAddArgs{Title: "milk"}) // applied and queued on disk now
//	cancel := list.Subscribe(func(l todos.List) { render(l) })
//	err = c.WaitSynced(ctx) // nil, the server's refusal (*ServerError), or ctx's error offline
//
// Open returns a Typed[S], a typed view of one key's Store; Mutate takes
// only envelopes that bsgen generated for S's actions. Package cli builds
// a command-line client on it.
package client

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/better-state/better-state/runtime/contract"
)

// Options configure a Client.
type Options struct {
	// APIKey is sent as "Authorization: Bearer <key>".
	APIKey string
	// TokenSource, instead of APIKey, returns an end-user token (a JWT
	// the app's backend signed) for each connection, and a fresh one
	// before the last expires, which the client sends on the live
	// connection. An error is retried like a failed connection.
	TokenSource func(ctx context.Context) (string, error)
	// Dir is where the client keeps its id, its pending mutations and the
	// last confirmed states (Dir/client.db). Empty keeps them in memory only.
	Dir string
	// Logger receives the client's logs (default: slog.Default()).
	Logger *slog.Logger
	// ClientID overrides the persistent client id (default: made once and
	// kept in Dir).
	ClientID string
	// OnStatus is called when the connection goes online or offline.
	OnStatus func(online bool)
	// OnReject is called once for each mutation the server refused.
	OnReject func(Rejection)
	// OnDivergence is called when the client's confirmed state hashes
	// differently from the server's; the client then resyncs from a snapshot.
	OnDivergence func(key string, seq uint64)
	// MinBackoff and MaxBackoff bound the reconnect delay (100ms, 5s).
	MinBackoff, MaxBackoff time.Duration

	// diskSync overrides SQLite's synchronous setting of Dir/client.db
	// (default FULL); the simulation, which never loses the OS cache, uses
	// OFF to run more seeds.
	diskSync string
}

// Status is a snapshot of the client's state.
type Status struct {
	Online  bool
	Pending map[string]int // pending mutations per open key
}

// Client is a connection to a Better-State server. It is safe for
// concurrent use.
type Client struct {
	url  string
	opts Options
	log  *slog.Logger
	disk persister
	id   string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	actor   string
	stores  map[string]*Store
	link    link          // nil while offline
	changed chan struct{} // closed and replaced on every change
	closed  bool
	fatal   error // a terminal ServerError: no more reconnects
	// serverTypes is the connected server's fingerprint of each type it
	// serves, from its welcome.
	serverTypes map[string]string

	// now stamps mutations (time.Now); later runs f after d unless the
	// client closes first. The simulation replaces both with its own clock.
	now   func() time.Time
	later func(d time.Duration, f func())
	// bugClearOnSend plants a bug on purpose: a pending mutation is
	// forgotten as soon as it is sent instead of when the server has
	// processed it. Only the simulation's planted-bug test sets it.
	bugClearOnSend bool
	// onRenumber, if set, is told each renumbering of a queue (the
	// simulation follows its mutations across it).
	onRenumber func(key string, old, new []uint64)
}

// New returns a client of the server at url (ws:// or wss://, path /v1/ws).
// It connects in the background and keeps reconnecting with capped,
// jittered exponential backoff, so it fails only for unusable options; it
// works offline from the start. WaitSynced tells when it has caught up,
// and returns the server's reason when the server refuses it.
func New(rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: %q is not a ws:// or wss:// URL", rawURL)
	}
	c, err := newClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	c.wg.Add(2)
	go c.run()
	go c.flusher()
	return c, nil
}

// newClient makes a client that has not started to connect.
func newClient(rawURL string, opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	c := &Client{url: rawURL, opts: opts, log: opts.Logger, stores: map[string]*Store{}, changed: make(chan struct{}), actor: "local", now: time.Now}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.later = func(d time.Duration, f func()) {
		go func() {
			select {
			case <-time.After(d):
				f()
			case <-c.ctx.Done():
			}
		}()
	}
	if opts.Dir != "" {
		d, err := openDisk(opts.Dir, opts.diskSync)
		if err != nil {
			return nil, err
		}
		c.disk = d
		if c.id, err = d.meta("client_id"); err != nil {
			d.close()
			return nil, fmt.Errorf("client: %w", err)
		}
		if a, _ := d.meta("actor"); a != "" {
			c.actor = a
		}
	}
	if opts.ClientID != "" {
		c.id = opts.ClientID
	}
	if c.id == "" {
		var b [12]byte
		crand.Read(b[:])
		c.id = hex.EncodeToString(b[:])
	}
	if c.disk != nil {
		if err := c.disk.setMeta("client_id", c.id); err != nil {
			c.disk.close()
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	return c, nil
}

// ID returns the client's persistent id.
func (c *Client) ID() string { return c.id }

// Open opens the store of key, a state of type t. Opening a key twice
// returns the same store.
func (c *Client) Open(t *contract.Type, key string) (*Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if s, ok := c.stores[key]; ok {
		if s.typ != t {
			return nil, fmt.Errorf("client: key %q is open as a %s, not a %s", key, s.typ.Name, t.Name)
		}
		return s, nil
	}
	s, err := newStore(c, t, key)
	if err != nil {
		return nil, err
	}
	c.stores[key] = s
	l := c.link
	c.mu.Unlock()
	// Lock order: a store's mu is never taken while c.mu is held.
	if l != nil {
		s.subscribe(l, false)
	}
	c.mu.Lock()
	return s, nil
}

// Status reports whether the client is online and how many mutations wait
// per key.
func (c *Client) Status() Status {
	c.mu.Lock()
	st := Status{Online: c.link != nil, Pending: map[string]int{}}
	stores := c.storeList()
	c.mu.Unlock()
	for _, s := range stores {
		s.mu.Lock()
		st.Pending[s.key] = len(s.pending)
		s.mu.Unlock()
	}
	return st
}

// storeList returns the open stores in key order, so that resubscribing
// after a reconnect sends the same frames in the same order every time.
func (c *Client) storeList() []*Store {
	out := make([]*Store, 0, len(c.stores))
	for _, s := range c.stores {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Store) int { return strings.Compare(a.key, b.key) })
	return out
}

// WaitSynced returns nil when every pending mutation of every open store
// was processed by the server (acknowledged or refused) and every store has
// caught up. It returns the terminal error when the server refuses this
// client (Err) or one of its keys (Store.Err), ErrClosed after Close, and
// ctx's error when ctx ends first: then the server could not be reached.
func (c *Client) WaitSynced(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if c.fatal != nil {
			err := c.fatal
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		stores := c.storeList()
		online := c.link != nil
		c.mu.Unlock()
		done := online
		var refused error
		for _, s := range stores {
			s.mu.Lock()
			if !s.live || len(s.pending) > 0 {
				done = false
			}
			if s.err != nil && refused == nil {
				refused = s.err
			}
			s.mu.Unlock()
		}
		if refused != nil {
			return refused
		}
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes WaitSynced.
func (c *Client) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Close stops the connection and writes the confirmed states; pending
// mutations stay in Dir for the next run.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	l := c.link
	stores := c.storeList()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.cancel()
	if l != nil {
		l.close()
	}
	c.wg.Wait()
	for _, s := range stores {
		s.stopSubscribers()
	}
	var err error
	if c.disk != nil {
		for _, s := range stores {
			err = errors.Join(err, s.persist())
		}
		err = errors.Join(err, c.disk.close())
	}
	return err
}

// flusher writes dirty confirmed states to Dir now and then.
func (c *Client) flusher() {
	defer c.wg.Done()
	if c.disk == nil {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.Flush()
		}
	}
}

// Flush saves each open store's confirmed state now; the client also does
// every 200 ms. Pending mutations need no Flush: they are durable before
// their action returns. A page calls it when it is hidden, so that a
// reload offline starts from the newest state it had.
func (c *Client) Flush() error {
	if c.disk == nil {
		return nil
	}
	c.mu.Lock()
	stores := c.storeList()
	c.mu.Unlock()
	var errs []error
	for _, s := range stores {
		if err := s.persist(); err != nil {
			c.log.Error("client: saving state failed", "key", s.key, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Client) status(online bool) {
	if c.opts.OnStatus != nil {
		c.opts.OnStatus(online)
	}
	c.notify()
}

// sameSchema reports whether the connected server's fingerprint of t is
// t's own (true also when the server did not say).
func (c *Client) sameSchema(t *contract.Type) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	fp, ok := c.serverTypes[t.Name]
	return !ok || fp == t.Fingerprint
}

func (c *Client) currentLink() link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link
}

func (c *Client) actorName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.actor
}

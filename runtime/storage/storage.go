// Package storage is the Better-State event log: per-key logs of accepted
// mutations, snapshots, dedup cursors, stored refusals, namespaces and API
// keys. The server (runtime/server) is its only user. Store is the narrow
// interface the server depends on; SQLite is its embedded implementation.
package storage

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("storage: not found")

// ErrConflict is a Write refused because another server wrote to the key
// first (its Base is not the head), or created it first: nothing of the
// Write is committed. The writer catches up from the log and tries again.
var ErrConflict = errors.New("storage: the key moved: another server wrote first")

// Shared is implemented by stores that several servers use at once
// (PostgreSQL). Watch calls fn, on a goroutine of the store's, with each
// key some server wrote to: its namespace, key and head after the write
// (seq 0 and no epoch when the key was deleted). fn must not block. Calls are hints, not a complete
// list (notifications can be lost while the connection that hears them is
// down): after a gap, the store calls fn with an empty ns, meaning
// "anything may have moved". Watch is called once, before any Write.
type Shared interface {
	Store
	Watch(fn func(ns, key string, h Head))
	// Heads returns the head of each of the keys of ns that exist.
	Heads(ctx context.Context, ns string, keys []string) (map[string]Head, error)
}

// Head is where a key's log is: its epoch and last seq.
type Head struct {
	Epoch string
	Seq   uint64
}

// StateMeta is one key's row: its type, fingerprint, epoch and head seq.
type StateMeta struct {
	Namespace   string `db:"namespace"`
	Key         string `db:"key"`
	Type        string `db:"type"`
	Fingerprint string `db:"fingerprint"`
	Epoch       string `db:"epoch"`
	Seq         uint64 `db:"seq"`
	CreatedAt   int64  `db:"created_at"` // Unix ms
	UpdatedAt   int64  `db:"updated_at"` // Unix ms of the creation or the last snapshot
}

// Event is one accepted mutation.
type Event struct {
	Seq    uint64          `db:"seq" json:"seq"`
	Client string          `db:"client" json:"client"`
	Mid    uint64          `db:"mid" json:"mid"`
	Name   string          `db:"name" json:"name"`
	Args   json.RawMessage `db:"args" json:"args"`
	Time   int64           `db:"time" json:"time"` // Unix ms
	Actor  string          `db:"actor" json:"actor"`
}

// Rejection is a refused mutation kept until its client acknowledges it.
type Rejection struct {
	Client  string `db:"client"`
	Mid     uint64 `db:"mid"`
	Name    string `db:"name"`
	Code    string `db:"code"`
	Message string `db:"message"`
}

// Snapshot is a key's full encoded state at a seq.
type Snapshot struct {
	Seq   uint64 `db:"seq"`
	State []byte `db:"state"`
}

// APIKey is a stored API key. Hash is the SHA-256 of the key's secret.
type APIKey struct {
	ID        string `db:"id"`
	Namespace string `db:"namespace"`
	Hash      []byte `db:"hash"`
	Actor     string `db:"actor"`
	Role      string `db:"role"`
	CreatedAt int64  `db:"created_at"`
	RevokedAt *int64 `db:"revoked_at"`
	Grants    string `db:"grants"` // PATTERN:MODE lines; empty: every key
}

// Write is everything one key's room makes durable in one step. A Write is
// applied atomically: all of it or nothing.
type Write struct {
	Namespace, Key string
	// Create inserts the key's row (a new key).
	Create *StateMeta
	// Events are appended in order; Head is the seq of the last one.
	Events []Event
	// Mids moves the clients' processed mutation ids (client -> mid).
	Mids map[string]uint64
	// Rejections are stored until acknowledged.
	Rejections []Rejection
	// AckRejections deletes the stored rejections of a client up to a mid.
	AckRejections map[string]uint64
	// Snapshot, if set, is stored.
	Snapshot *Snapshot
	// CompactBelow, if > 0, deletes events with seq < CompactBelow and
	// snapshots older than Snapshot (which must then be set).
	CompactBelow uint64
	// Fingerprint, if set, updates the fingerprint the key is served with.
	Fingerprint string
	// Delete removes the key with its whole log, snapshots, dedup cursors
	// and stored refusals. Nothing else may be set with it.
	Delete bool
	// KeepSnapshots, if > 0, deletes the key's snapshots older than the
	// newest KeepSnapshots when Snapshot is stored.
	KeepSnapshots int
	// Base is the key's head seq that the Write was made on: the seq
	// before Events, or the head when a Write refuses mutations without
	// appending. A store shared by several servers refuses a Write with
	// Events, Mids or Rejections whose Base is no longer the key's head
	// (another server wrote first) with ErrConflict.
	Base uint64
	// Epoch is the key's epoch the Write was made on: a shared store
	// refuses (ErrConflict) a Write to a key deleted and created again
	// meanwhile, whatever its head.
	Epoch string

	// UsageDelta is set by Write: by how many bytes the namespace's usage
	// (see Usage) moved.
	UsageDelta int64
}

// Store is the event log the server is built on.
type Store interface {
	// Write makes w durable. It returns when w is committed (or failed),
	// or with ctx's error when ctx ends before the Write was started: then
	// nothing of w is committed. Concurrent Writes are committed together
	// (group commit).
	Write(ctx context.Context, w *Write) error

	State(ctx context.Context, ns, key string) (StateMeta, error)
	States(ctx context.Context, ns, prefix, after string, limit int) ([]StateMeta, error)
	Namespaces(ctx context.Context) ([]string, error)
	// LatestSnapshot returns the newest snapshot with seq <= atOrBelow.
	LatestSnapshot(ctx context.Context, ns, key string, atOrBelow uint64) (Snapshot, error)
	// FirstSnapshot returns the oldest snapshot with seq >= atOrAbove.
	FirstSnapshot(ctx context.Context, ns, key string, atOrAbove uint64) (Snapshot, error)
	// Events returns up to limit events with seq > after, in order.
	Events(ctx context.Context, ns, key string, after uint64, limit int) ([]Event, error)
	// EachEvent calls fn with the events after seq `after` up to and
	// including seq upto, in order, streaming them: the Event and its
	// slices are valid only during the call. An error from fn stops the
	// scan and is returned.
	EachEvent(ctx context.Context, ns, key string, after, upto uint64, fn func(*Event) error) error
	// FirstSeq returns the lowest seq still in the log (0: empty log).
	FirstSeq(ctx context.Context, ns, key string) (uint64, error)
	// FindEvent returns the event of (client, mid).
	FindEvent(ctx context.Context, ns, key, client string, mid uint64) (Event, error)
	ClientMid(ctx context.Context, ns, key, client string) (uint64, error)
	// Rejections returns the stored rejections of client with mid > after.
	Rejections(ctx context.Context, ns, key, client string, after uint64) ([]Rejection, error)

	// Usage returns what the namespace stores.
	Usage(ctx context.Context, ns string) (Usage, error)

	// ClaimClient makes actor the owner of the client id in ns if it has
	// none, and returns the owner.
	ClaimClient(ctx context.Context, ns, client, actor string) (owner string, err error)

	EnsureNamespace(ctx context.Context, ns string) error
	CreateKey(ctx context.Context, k APIKey) error
	Key(ctx context.Context, id string) (APIKey, error)
	Keys(ctx context.Context) ([]APIKey, error)
	RevokeKey(ctx context.Context, id string) error

	Close() error
}

package storage

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/better-state/better-state/internal/flock"
	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// SQLiteOptions tune the SQLite store.
type SQLiteOptions struct {
	// Sync is the durability: "full" (default; a commit is on disk before
	// Write returns) or "normal" (WAL without fsync per commit: a power
	// loss may lose the last commits, a process crash does not).
	Sync string
	// MaxBatch bounds how many Writes one transaction commits (default 512).
	// 1 turns group commit off: one transaction per Write.
	MaxBatch int
	// Readers is the size of the read connection pool (default 4).
	Readers int
	// Exclusive takes a lock on path+".lock" for as long as the store is
	// open, and refuses to open a file that another store holds: one
	// server per database file. Tools that only manage keys leave it off.
	Exclusive bool
}

// SQLite is the embedded Store: one database file in WAL mode, one writer
// goroutine that commits concurrent Writes in one transaction, and a pool of
// readers.
type SQLite struct {
	w, r     *sqlx.DB
	maxBatch int
	reqs     chan *writeReq
	closeMu  sync.RWMutex
	closed   bool
	stmts    map[string]*sql.Stmt
	writerWG sync.WaitGroup
	unlock   func()
}

type writeReq struct {
	w   *Write
	err chan error
}

// writerDriver is SQLite with the writer's connection settings that the
// DSN cannot carry. A checkpoint runs inside the commit that crosses the
// threshold; at SQLite's default of 1,000 pages the writer checkpointed
// every few dozen group commits, rewriting the same hot leaf pages each
// time. At 10,000 pages (about 40 MB of WAL) most of those rewrites
// collapse into one: BenchmarkAppend/group/keys=100 went from about 24k to
// 28-32k appends/s.
const writerDriver = "sqlite3-better-state-writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA wal_autocheckpoint=10000", nil)
		return err
	}})
}

// ErrClosed is returned by Writes after Close.
var ErrClosed = errors.New("storage: closed")

// OpenSQLite opens (creating if needed) the database file at path and brings
// its schema up to date.
func OpenSQLite(path string, opt SQLiteOptions) (*SQLite, error) {
	sync := strings.ToUpper(opt.Sync)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("storage: sync must be full or normal, not %q", opt.Sync)
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 512
	}
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	unlock := func() {}
	if opt.Exclusive {
		var err error
		if unlock, err = flock.Lock(path+".lock", "database "+path); err != nil {
			return nil, fmt.Errorf("storage: %w: one server per database file", err)
		}
	}
	s, err := openSQLite(path, sync, opt)
	if err != nil {
		unlock()
		return nil, err
	}
	s.unlock = unlock
	return s, nil
}

func openSQLite(path, sync string, opt SQLiteOptions) (*SQLite, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", sync)
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sqlx.Open(writerDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if err := migrate(w); err != nil {
		w.Close()
		return nil, err
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("mode", "ro")
	r, err := sqlx.Open("sqlite3", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(opt.Readers)
	r.SetMaxIdleConns(opt.Readers)
	s := &SQLite{w: w, r: r, maxBatch: opt.MaxBatch, reqs: make(chan *writeReq, 4096)}
	if err := s.prepare(); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, err
	}
	s.writerWG.Add(1)
	go s.writer()
	return s, nil
}

func migrate(db *sqlx.DB) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("storage: migrations table: %w", err)
	}
	var have []int
	if err := db.Select(&have, `SELECT version FROM migrations`); err != nil {
		return fmt.Errorf("storage: read migrations: %w", err)
	}
	applied := map[int]bool{}
	for _, v := range have {
		applied[v] = true
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("storage: migration %s: bad name", name)
		}
		if applied[v] {
			continue
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.Beginx()
		if err != nil {
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
		if _, err := tx.Exec(`INSERT INTO migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
	}
	return nil
}

const (
	sqlInsertState  = `INSERT INTO states (namespace, key, type, fingerprint, epoch, seq, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertEvent  = `INSERT INTO events (namespace, key, seq, client, mid, name, args, time, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlUpdateHead   = `UPDATE states SET seq = ?, updated_at = ? WHERE namespace = ? AND key = ?`
	sqlUpdateFP     = `UPDATE states SET fingerprint = ? WHERE namespace = ? AND key = ?`
	sqlUpsertMid    = `INSERT INTO client_mids (namespace, key, client, mid) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key, client) DO UPDATE SET mid = excluded.mid`
	sqlInsertRej    = `INSERT OR REPLACE INTO rejections (namespace, key, client, mid, name, code, message) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlAckRej       = `DELETE FROM rejections WHERE namespace = ? AND key = ? AND client = ? AND mid <= ?`
	sqlInsertSnap   = `INSERT OR REPLACE INTO snapshots (namespace, key, seq, state) VALUES (?, ?, ?, ?)`
	sqlCompactEv    = `DELETE FROM events WHERE namespace = ? AND key = ? AND seq < ?`
	sqlCompactSnaps = `DELETE FROM snapshots WHERE namespace = ? AND key = ? AND seq < ?`
	sqlEnsureNS     = `INSERT OR IGNORE INTO namespaces (name, created_at) VALUES (?, ?)`
	sqlDeleteState  = `DELETE FROM states WHERE namespace = ? AND key = ?`
	sqlDeleteEvents = `DELETE FROM events WHERE namespace = ? AND key = ?`
	sqlDeleteSnaps  = `DELETE FROM snapshots WHERE namespace = ? AND key = ?`
	sqlDeleteMids   = `DELETE FROM client_mids WHERE namespace = ? AND key = ?`
	sqlDeleteRejs   = `DELETE FROM rejections WHERE namespace = ? AND key = ?`
)

func (s *SQLite) prepare() error {
	s.stmts = map[string]*sql.Stmt{}
	for _, q := range []string{sqlInsertState, sqlInsertEvent, sqlUpdateHead, sqlUpdateFP, sqlUpsertMid, sqlInsertRej, sqlAckRej, sqlInsertSnap, sqlCompactEv, sqlCompactSnaps, sqlEnsureNS,
		sqlDeleteState, sqlDeleteEvents, sqlDeleteSnaps, sqlDeleteMids, sqlDeleteRejs, sqlAddUsage} {
		st, err := s.w.Prepare(q)
		if err != nil {
			return fmt.Errorf("storage: prepare: %w", err)
		}
		s.stmts[q] = st
	}
	return nil
}

// Write implements Store.
func (s *SQLite) Write(ctx context.Context, w *Write) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	req := &writeReq{w: w, err: make(chan error, 1)}
	s.reqs <- req
	s.closeMu.RUnlock()
	// Once handed over, the write is committed or failed whatever ctx
	// says: waiting for the answer keeps callers from guessing.
	return <-req.err
}

// writer commits the queued Writes, as many as are waiting (up to
// maxBatch) in one transaction.
func (s *SQLite) writer() {
	defer s.writerWG.Done()
	batch := make([]*writeReq, 0, s.maxBatch)
	for {
		req, ok := <-s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := s.commit(batch)
		if err != nil && len(batch) > 1 {
			// One bad Write must not fail the others: retry one by one.
			for _, r := range batch {
				r.err <- s.commit([]*writeReq{r})
			}
			continue
		}
		for _, r := range batch {
			r.err <- err
		}
	}
}

func (s *SQLite) commit(batch []*writeReq) (err error) {
	tx, err := s.w.Begin()
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	txStmts := make(map[string]*sql.Stmt, 4)
	st := func(q string) *sql.Stmt {
		t, ok := txStmts[q]
		if !ok {
			t = tx.Stmt(s.stmts[q])
			txStmts[q] = t
		}
		return t
	}
	now := time.Now().UnixMilli()
	usage := map[string]int64{}
	for _, r := range batch {
		w := r.w
		ns, key := w.Namespace, w.Key
		w.UsageDelta = 0
		if w.Delete {
			var evb, snb int64
			if evb, err = bytesBelow(tx, sqlEventBytesBelow, ns, key, 1<<63-1); err != nil {
				return fmt.Errorf("storage: delete %s/%s: %w", ns, key, err)
			}
			if snb, err = bytesBelow(tx, sqlSnapBytesBelow, ns, key, 1<<63-1); err != nil {
				return fmt.Errorf("storage: delete %s/%s: %w", ns, key, err)
			}
			w.UsageDelta = -(evb + snb)
			usage[ns] += w.UsageDelta
			for _, q := range []string{sqlDeleteState, sqlDeleteEvents, sqlDeleteSnaps, sqlDeleteMids, sqlDeleteRejs} {
				if _, err = st(q).Exec(ns, key); err != nil {
					return fmt.Errorf("storage: delete %s/%s: %w", ns, key, err)
				}
			}
			continue
		}
		if w.Create != nil {
			c := w.Create
			if _, err = st(sqlEnsureNS).Exec(ns, now); err != nil {
				return fmt.Errorf("storage: namespace: %w", err)
			}
			if _, err = st(sqlInsertState).Exec(ns, key, c.Type, c.Fingerprint, c.Epoch, c.Seq, now, now); err != nil {
				return fmt.Errorf("storage: create %s/%s: %w", ns, key, err)
			}
		}
		if w.Fingerprint != "" {
			if _, err = st(sqlUpdateFP).Exec(w.Fingerprint, ns, key); err != nil {
				return fmt.Errorf("storage: fingerprint: %w", err)
			}
		}
		if len(w.Events) > 0 {
			ins := st(sqlInsertEvent)
			for _, e := range w.Events {
				args := []byte(e.Args)
				if args == nil {
					args = []byte("{}")
				}
				if _, err = ins.Exec(ns, key, e.Seq, e.Client, e.Mid, e.Name, args, e.Time, e.Actor); err != nil {
					return fmt.Errorf("storage: append %s/%s seq %d: %w", ns, key, e.Seq, err)
				}
				w.UsageDelta += EventBytes(&e)
			}
		}
		for _, c := range sortedKeys(w.Mids) {
			if _, err = st(sqlUpsertMid).Exec(ns, key, c, w.Mids[c]); err != nil {
				return fmt.Errorf("storage: client mid: %w", err)
			}
		}
		for _, rj := range w.Rejections {
			if _, err = st(sqlInsertRej).Exec(ns, key, rj.Client, rj.Mid, rj.Name, rj.Code, rj.Message); err != nil {
				return fmt.Errorf("storage: rejection: %w", err)
			}
		}
		for _, c := range sortedKeys(w.AckRejections) {
			if _, err = st(sqlAckRej).Exec(ns, key, c, w.AckRejections[c]); err != nil {
				return fmt.Errorf("storage: ack rejections: %w", err)
			}
		}
		if w.Snapshot != nil {
			if _, err = st(sqlInsertSnap).Exec(ns, key, w.Snapshot.Seq, w.Snapshot.State); err != nil {
				return fmt.Errorf("storage: snapshot: %w", err)
			}
			if _, err = st(sqlUpdateHead).Exec(w.Snapshot.Seq, now, ns, key); err != nil {
				return fmt.Errorf("storage: head: %w", err)
			}
			w.UsageDelta += SnapshotBytes(w.Snapshot.State)
			snapsBelow := uint64(0) // snapshots below this seq go
			if w.CompactBelow > 0 {
				evb, err := bytesBelow(tx, sqlEventBytesBelow, ns, key, w.CompactBelow)
				if err != nil {
					return fmt.Errorf("storage: compact: %w", err)
				}
				w.UsageDelta -= evb
				if _, err = st(sqlCompactEv).Exec(ns, key, w.CompactBelow); err != nil {
					return fmt.Errorf("storage: compact: %w", err)
				}
				snapsBelow = w.Snapshot.Seq
			} else if w.KeepSnapshots > 0 {
				var seq sql.NullInt64
				err := tx.QueryRow(`SELECT seq FROM snapshots WHERE namespace = ? AND key = ? ORDER BY seq DESC LIMIT 1 OFFSET ?`, ns, key, w.KeepSnapshots-1).Scan(&seq)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("storage: snapshot retention: %w", err)
				}
				snapsBelow = uint64(seq.Int64)
			}
			if snapsBelow > 0 {
				snb, err := bytesBelow(tx, sqlSnapBytesBelow, ns, key, snapsBelow)
				if err != nil {
					return fmt.Errorf("storage: snapshot retention: %w", err)
				}
				w.UsageDelta -= snb
				if _, err = st(sqlCompactSnaps).Exec(ns, key, snapsBelow); err != nil {
					return fmt.Errorf("storage: snapshot retention: %w", err)
				}
			}
		}
		usage[ns] += w.UsageDelta
	}
	// One update per namespace per transaction, not one per Write.
	for ns, d := range usage {
		if d == 0 {
			continue
		}
		if _, err = st(sqlAddUsage).Exec(ns, d); err != nil {
			return fmt.Errorf("storage: usage: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]uint64) []string {
	if len(m) == 0 {
		return nil
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// selectStates reads key rows with their head. A commit does not touch the
// key's row (that would cost one more B-tree write per key per commit); the
// head is the last event's seq, and the row's seq (moved at each snapshot)
// covers a log compacted down to nothing.
const selectStates = `SELECT s.namespace, s.key, s.type, s.fingerprint, s.epoch,
	max(s.seq, COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.namespace = s.namespace AND e.key = s.key), 0)) AS seq,
	s.created_at, s.updated_at FROM states s`

// State implements Store.
func (s *SQLite) State(ctx context.Context, ns, key string) (StateMeta, error) {
	var m StateMeta
	err := s.r.GetContext(ctx, &m, selectStates+` WHERE s.namespace = ? AND s.key = ?`, ns, key)
	return m, notFound(err)
}

// States implements Store: keys of ns with the prefix, after the cursor, in
// key order.
func (s *SQLite) States(ctx context.Context, ns, prefix, after string, limit int) ([]StateMeta, error) {
	var out []StateMeta
	q := selectStates + ` WHERE s.namespace = ? AND s.key > ? AND substr(s.key, 1, ?) = ? ORDER BY s.key LIMIT ?`
	err := s.r.SelectContext(ctx, &out, q, ns, after, len(prefix), prefix, limit)
	return out, err
}

// Namespaces implements Store.
func (s *SQLite) Namespaces(ctx context.Context) ([]string, error) {
	var out []string
	err := s.r.SelectContext(ctx, &out, `SELECT name FROM namespaces ORDER BY name`)
	return out, err
}

// LatestSnapshot implements Store.
func (s *SQLite) LatestSnapshot(ctx context.Context, ns, key string, atOrBelow uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.r.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = ? AND key = ? AND seq <= ? ORDER BY seq DESC LIMIT 1`, ns, key, atOrBelow)
	return snap, notFound(err)
}

// Events implements Store.
func (s *SQLite) Events(ctx context.Context, ns, key string, after uint64, limit int) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = ? AND key = ? AND seq > ? ORDER BY seq LIMIT ?`, ns, key, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Event, 0, min(limit, 1024))
	for rows.Next() {
		var e Event
		var args []byte
		if err := rows.Scan(&e.Seq, &e.Client, &e.Mid, &e.Name, &args, &e.Time, &e.Actor); err != nil {
			return nil, err
		}
		e.Args = args
		out = append(out, e)
	}
	return out, rows.Err()
}

// EachEvent implements Store. Replaying a long log is its main use, so
// it allocates nothing per row: the texts that repeat from row to row
// (client, name, actor) are reused while they do not change.
func (s *SQLite) EachEvent(ctx context.Context, ns, key string, after, upto uint64, fn func(*Event) error) error {
	// A cancellable context makes the driver watch it on every row; ctx
	// is checked every few thousand rows instead.
	rows, err := s.r.QueryContext(context.WithoutCancel(ctx), `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = ? AND key = ? AND seq > ? AND seq <= ? ORDER BY seq`, ns, key, after, upto)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		e                   Event
		client, name, actor sql.RawBytes
		args                sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &client, &e.Mid, &name, &args, &e.Time, &actor); err != nil {
			return err
		}
		e.Client = reuse(e.Client, client)
		e.Name = reuse(e.Name, name)
		e.Actor = reuse(e.Actor, actor)
		e.Args = json.RawMessage(args)
		if err := fn(&e); err != nil {
			return err
		}
		if e.Seq%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return rows.Err()
}

// reuse returns prev if it spells b, else b as a new string.
func reuse(prev string, b []byte) string {
	if prev == string(b) {
		return prev
	}
	return string(b)
}

// FirstSeq implements Store.
func (s *SQLite) FirstSeq(ctx context.Context, ns, key string) (uint64, error) {
	var seq sql.NullInt64
	err := s.r.GetContext(ctx, &seq, `SELECT MIN(seq) FROM events WHERE namespace = ? AND key = ?`, ns, key)
	return uint64(seq.Int64), err
}

// FindEvent implements Store.
func (s *SQLite) FindEvent(ctx context.Context, ns, key, client string, mid uint64) (Event, error) {
	var e Event
	err := s.r.GetContext(ctx, &e, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = ? AND key = ? AND client = ? AND mid = ?`, ns, key, client, mid)
	return e, notFound(err)
}

// ClaimClient implements Store.
func (s *SQLite) ClaimClient(ctx context.Context, ns, client, actor string) (string, error) {
	var owner string
	err := s.r.GetContext(ctx, &owner, `SELECT actor FROM clients WHERE namespace = ? AND client = ?`, ns, client)
	if err == nil {
		return owner, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO clients (namespace, client, actor, created_at) VALUES (?, ?, ?, ?)`, ns, client, actor, time.Now().UnixMilli()); err != nil {
		return "", err
	}
	err = s.w.GetContext(ctx, &owner, `SELECT actor FROM clients WHERE namespace = ? AND client = ?`, ns, client)
	return owner, err
}

// ClientMid implements Store: 0 when the client never wrote to the key.
func (s *SQLite) ClientMid(ctx context.Context, ns, key, client string) (uint64, error) {
	var mid uint64
	err := s.r.GetContext(ctx, &mid, `SELECT mid FROM client_mids WHERE namespace = ? AND key = ? AND client = ?`, ns, key, client)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return mid, err
}

// Rejections implements Store.
func (s *SQLite) Rejections(ctx context.Context, ns, key, client string, after uint64) ([]Rejection, error) {
	var out []Rejection
	err := s.r.SelectContext(ctx, &out, `SELECT client, mid, name, code, message FROM rejections WHERE namespace = ? AND key = ? AND client = ? AND mid > ? ORDER BY mid`, ns, key, client, after)
	return out, err
}

// EnsureNamespace implements Store.
func (s *SQLite) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := s.w.ExecContext(ctx, sqlEnsureNS, ns, time.Now().UnixMilli())
	return err
}

// CreateKey implements Store.
func (s *SQLite) CreateKey(ctx context.Context, k APIKey) error {
	if err := s.EnsureNamespace(ctx, k.Namespace); err != nil {
		return err
	}
	_, err := s.w.NamedExecContext(ctx, `INSERT INTO api_keys (id, namespace, hash, actor, role, created_at) VALUES (:id, :namespace, :hash, :actor, :role, :created_at)`, k)
	return err
}

// Key implements Store.
func (s *SQLite) Key(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.r.GetContext(ctx, &k, `SELECT * FROM api_keys WHERE id = ?`, id)
	return k, notFound(err)
}

// Keys implements Store.
func (s *SQLite) Keys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	err := s.r.SelectContext(ctx, &out, `SELECT * FROM api_keys ORDER BY created_at, id`)
	return out, err
}

// RevokeKey implements Store.
func (s *SQLite) RevokeKey(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, time.Now().UnixMilli(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Close commits the Writes already handed over, stops the writer and closes
// the database. Later Writes fail with ErrClosed.
func (s *SQLite) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.closeMu.Unlock()
	s.writerWG.Wait()
	for _, st := range s.stmts {
		st.Close()
	}
	err1 := s.r.Close()
	err2 := s.w.Close()
	s.unlock()
	return errors.Join(err1, err2)
}

var _ Store = (*SQLite)(nil)

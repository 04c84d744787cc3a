package storage

import (
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
	w, r   *sqlx.DB
	b      batcher
	stmts  map[string]*sql.Stmt
	unlock func()
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
	s := &SQLite{w: w, r: r}
	if err := s.prepare(); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, err
	}
	s.b.start(opt.MaxBatch, 1, s.commit)
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

// Close commits the Writes already handed over, stops the writer and closes
// the database. Later Writes fail with ErrClosed.
func (s *SQLite) Close() error {
	if !s.b.stop() {
		return nil
	}
	for _, st := range s.stmts {
		st.Close()
	}
	err1 := s.r.Close()
	err2 := s.w.Close()
	s.unlock()
	return errors.Join(err1, err2)
}

var _ Store = (*SQLite)(nil)

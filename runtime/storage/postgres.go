package storage

// The PostgreSQL store: the same tables and Writes as SQLite, for several
// servers sharing one database. PostgreSQL is the one source of order:
// every Write that appends or refuses moves the key's head in its row
// (states.seq) from the Write's Base, and a Write whose Base is no longer
// the head is refused with ErrConflict. The row's lock orders concurrent
// Writes to a key; the loser re-reads and sees the winner's head. The
// client's dedup cursor moves in the same transaction as its event, so a
// (client, mid) is applied once whichever servers it reaches. After each
// Write a NOTIFY tells the other servers which key reached which seq.

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

//go:embed migrations_pg/*.sql
var pgMigrationFiles embed.FS

// notifyChannel is the channel of the servers' NOTIFYs.
const notifyChannel = "better_state_heads"

// PostgresOptions tune the PostgreSQL store.
type PostgresOptions struct {
	// MaxBatch bounds how many Writes one transaction commits (default 512).
	MaxBatch int
	// MaxConns is the size of the connection pool (default 16).
	MaxConns int
	// CheckEvery is how often the listener's connection is checked and,
	// after it was lost, the watcher told that anything may have moved
	// (default 2s).
	CheckEvery time.Duration
}

// Postgres is the Store on PostgreSQL.
type Postgres struct {
	db   *sqlx.DB
	b    batcher
	url  string
	opt  PostgresOptions
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	watchOnce sync.Once
}

// IsPostgresURL reports whether a --db value names a PostgreSQL database.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenPostgres connects to the database at url (postgres://...) and brings
// its schema up to date. Several servers may open the same database.
func OpenPostgres(url string, opt PostgresOptions) (*Postgres, error) {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 512
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 16
	}
	if opt.CheckEvery <= 0 {
		opt.CheckEvery = 2 * time.Second
	}
	db, err := sqlx.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", Redact(url), err)
	}
	db.SetMaxOpenConns(opt.MaxConns)
	db.SetMaxIdleConns(opt.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: connect to %s: %w", Redact(url), err)
	}
	if err := migratePostgres(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	s := &Postgres{db: db, url: url, opt: opt}
	s.life, s.stop = context.WithCancel(context.Background())
	s.b.start(opt.MaxBatch, s.commit)
	return s, nil
}

// Redact hides the password of a database URL, for logs.
func Redact(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		if j := strings.LastIndex(url, "@"); j > i {
			if k := strings.Index(url[i+3:j], ":"); k >= 0 {
				return url[:i+3+k] + ":***" + url[j:]
			}
		}
	}
	return url
}

// migratePostgres applies the migrations not yet applied, under an
// advisory lock: servers starting together migrate once.
func migratePostgres(ctx context.Context, db *sqlx.DB) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	defer conn.Close()
	const lockID = 0x6273 // "bs"
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockID); err != nil {
		return fmt.Errorf("storage: migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, lockID)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("storage: migrations table: %w", err)
	}
	var have []int
	if err := conn.SelectContext(ctx, &have, `SELECT version FROM migrations`); err != nil {
		return fmt.Errorf("storage: read migrations: %w", err)
	}
	done := map[int]bool{}
	for _, v := range have {
		done[v] = true
	}
	names, err := fs.Glob(pgMigrationFiles, "migrations_pg/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations_pg/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("storage: migration %s: bad name", name)
		}
		if done[v] {
			continue
		}
		body, err := pgMigrationFiles.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (version, applied_at) VALUES ($1, $2)`, v, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("storage: migration %d: %w", v, err)
		}
	}
	return nil
}

// Write implements Store.
func (s *Postgres) Write(ctx context.Context, w *Write) error { return s.b.write(ctx, w) }

// Close commits the Writes already handed over, stops the writer and the
// listener, and closes the pool.
func (s *Postgres) Close() error {
	if !s.b.stop() {
		return nil
	}
	s.stop()
	s.wg.Wait()
	return s.db.Close()
}

// errConflict says that one Write of a batch lost to another server's.
var errConflict = errors.New("conflict")

func (s *Postgres) commit(batch []*writeReq) (err error) {
	ctx := context.Background()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	now := time.Now().UnixMilli()
	usage := map[string]int64{}
	type head struct {
		ns, key string
		seq     uint64
	}
	var heads []head
	for _, r := range batch {
		w := r.w
		w.UsageDelta = 0
		r.failed = nil
		if _, err = tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			return fmt.Errorf("storage: savepoint: %w", err)
		}
		werr := s.writeOne(ctx, tx, w, now)
		if errors.Is(werr, errConflict) {
			if _, err = tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT w`); err != nil {
				return fmt.Errorf("storage: rollback to savepoint: %w", err)
			}
			w.UsageDelta = 0
			r.failed = ErrConflict
			continue
		}
		if werr != nil {
			return werr
		}
		if _, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT w`); err != nil {
			return fmt.Errorf("storage: release savepoint: %w", err)
		}
		usage[w.Namespace] += w.UsageDelta
		switch {
		case w.Delete:
			heads = append(heads, head{w.Namespace, w.Key, 0})
		case len(w.Events) > 0:
			heads = append(heads, head{w.Namespace, w.Key, w.Events[len(w.Events)-1].Seq})
		case w.Create != nil:
			heads = append(heads, head{w.Namespace, w.Key, w.Create.Seq})
		}
	}
	for ns, d := range usage {
		if d == 0 {
			continue
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO usage (namespace, bytes) VALUES ($1, $2) ON CONFLICT (namespace) DO UPDATE SET bytes = usage.bytes + excluded.bytes`, ns, d); err != nil {
			return fmt.Errorf("storage: usage: %w", err)
		}
	}
	// The other servers hear which key reached which seq when this
	// commits (NOTIFY is delivered at commit, in commit order).
	for _, h := range heads {
		payload, _ := json.Marshal([]any{h.ns, h.key, h.seq})
		if len(payload) > 7900 {
			payload, _ = json.Marshal([]any{"", "", 0}) // too long to say which: "anything"
		}
		if _, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, string(payload)); err != nil {
			return fmt.Errorf("storage: notify: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// writeOne applies one Write inside the batch's transaction. errConflict
// means another server wrote first.
func (s *Postgres) writeOne(ctx context.Context, tx *sqlx.Tx, w *Write, now int64) error {
	ns, key := w.Namespace, w.Key
	exec := func(what, q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("storage: %s %s/%s: %w", what, ns, key, err)
		}
		return nil
	}
	sum := func(q string, below uint64) (int64, error) {
		var n int64
		err := tx.QueryRowContext(ctx, q, ns, key, int64(below)).Scan(&n)
		return n, err
	}
	const evBytes = `SELECT COALESCE(SUM(octet_length(args) + octet_length(name) + octet_length(client) + octet_length(actor) + 48), 0) FROM events WHERE namespace = $1 AND key = $2 AND seq < $3`
	const snapBytes = `SELECT COALESCE(SUM(octet_length(state) + 48), 0) FROM snapshots WHERE namespace = $1 AND key = $2 AND seq < $3`
	if w.Delete {
		evb, err := sum(evBytes, 1<<62)
		if err != nil {
			return fmt.Errorf("storage: delete %s/%s: %w", ns, key, err)
		}
		snb, err := sum(snapBytes, 1<<62)
		if err != nil {
			return fmt.Errorf("storage: delete %s/%s: %w", ns, key, err)
		}
		w.UsageDelta = -(evb + snb)
		for _, t := range []string{"states", "events", "snapshots", "client_mids", "rejections"} {
			if err := exec("delete", `DELETE FROM `+t+` WHERE namespace = $1 AND key = $2`, ns, key); err != nil {
				return err
			}
		}
		return nil
	}
	if c := w.Create; c != nil {
		if err := exec("namespace", `INSERT INTO namespaces (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, ns, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO states (namespace, key, type, fingerprint, epoch, seq, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			ns, key, c.Type, c.Fingerprint, c.Epoch, int64(c.Seq), now, now)
		if err != nil {
			return fmt.Errorf("storage: create %s/%s: %w", ns, key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errConflict // another server created it first
		}
	}
	if len(w.Events) > 0 || len(w.Mids) > 0 || len(w.Rejections) > 0 {
		head := w.Base
		if n := len(w.Events); n > 0 {
			if w.Events[0].Seq != w.Base+1 {
				return fmt.Errorf("storage: append %s/%s: events start at seq %d on base %d", ns, key, w.Events[0].Seq, w.Base)
			}
			head = w.Events[n-1].Seq
		}
		res, err := tx.ExecContext(ctx, `UPDATE states SET seq = $1 WHERE namespace = $2 AND key = $3 AND seq = $4`, int64(head), ns, key, int64(w.Base))
		if err != nil {
			return fmt.Errorf("storage: head %s/%s: %w", ns, key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errConflict
		}
	}
	if w.Fingerprint != "" {
		if err := exec("fingerprint", `UPDATE states SET fingerprint = $1 WHERE namespace = $2 AND key = $3`, w.Fingerprint, ns, key); err != nil {
			return err
		}
	}
	for _, e := range w.Events {
		args := []byte(e.Args)
		if args == nil {
			args = []byte("{}")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (namespace, key, seq, client, mid, name, args, time, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			ns, key, int64(e.Seq), e.Client, int64(e.Mid), e.Name, args, e.Time, e.Actor); err != nil {
			if isUniqueViolation(err) {
				return errConflict
			}
			return fmt.Errorf("storage: append %s/%s seq %d: %w", ns, key, e.Seq, err)
		}
		w.UsageDelta += EventBytes(&e)
	}
	// A client's cursor only moves forward: a Write that would process a
	// mutation another server processed already is a conflict, whatever
	// its head says.
	for _, c := range sortedKeys(w.Mids) {
		res, err := tx.ExecContext(ctx, `INSERT INTO client_mids (namespace, key, client, mid) VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, key, client) DO UPDATE SET mid = excluded.mid WHERE client_mids.mid < excluded.mid`, ns, key, c, int64(w.Mids[c]))
		if err != nil {
			return fmt.Errorf("storage: client mid %s/%s: %w", ns, key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errConflict
		}
	}
	for _, rj := range w.Rejections {
		if err := exec("rejection", `INSERT INTO rejections (namespace, key, client, mid, name, code, message) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (namespace, key, client, mid) DO UPDATE SET name = excluded.name, code = excluded.code, message = excluded.message`,
			ns, key, rj.Client, int64(rj.Mid), rj.Name, rj.Code, rj.Message); err != nil {
			return err
		}
	}
	for _, c := range sortedKeys(w.AckRejections) {
		if err := exec("ack rejections", `DELETE FROM rejections WHERE namespace = $1 AND key = $2 AND client = $3 AND mid <= $4`, ns, key, c, int64(w.AckRejections[c])); err != nil {
			return err
		}
	}
	if w.Snapshot != nil {
		var old sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT octet_length(state) FROM snapshots WHERE namespace = $1 AND key = $2 AND seq = $3`, ns, key, int64(w.Snapshot.Seq)).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("storage: snapshot: %w", err)
		}
		if err := exec("snapshot", `INSERT INTO snapshots (namespace, key, seq, state) VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, key, seq) DO UPDATE SET state = excluded.state`, ns, key, int64(w.Snapshot.Seq), w.Snapshot.State); err != nil {
			return err
		}
		if err := exec("head", `UPDATE states SET updated_at = $1 WHERE namespace = $2 AND key = $3`, now, ns, key); err != nil {
			return err
		}
		w.UsageDelta += SnapshotBytes(w.Snapshot.State)
		if old.Valid {
			w.UsageDelta -= old.Int64 + 48 // replaced, not added
		}
		snapsBelow := uint64(0)
		if w.CompactBelow > 0 {
			evb, err := sum(evBytes, w.CompactBelow)
			if err != nil {
				return fmt.Errorf("storage: compact: %w", err)
			}
			w.UsageDelta -= evb
			if err := exec("compact", `DELETE FROM events WHERE namespace = $1 AND key = $2 AND seq < $3`, ns, key, int64(w.CompactBelow)); err != nil {
				return err
			}
			snapsBelow = w.Snapshot.Seq
		} else if w.KeepSnapshots > 0 {
			var seq sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT seq FROM snapshots WHERE namespace = $1 AND key = $2 ORDER BY seq DESC LIMIT 1 OFFSET $3`, ns, key, w.KeepSnapshots-1).Scan(&seq)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("storage: snapshot retention: %w", err)
			}
			snapsBelow = uint64(seq.Int64)
		}
		if snapsBelow > 0 {
			snb, err := sum(snapBytes, snapsBelow)
			if err != nil {
				return fmt.Errorf("storage: snapshot retention: %w", err)
			}
			w.UsageDelta -= snb
			if err := exec("snapshot retention", `DELETE FROM snapshots WHERE namespace = $1 AND key = $2 AND seq < $3`, ns, key, int64(snapsBelow)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- reads ----

const pgSelectStates = `SELECT namespace, key, type, fingerprint, epoch, seq, created_at, updated_at FROM states`

// State implements Store.
func (s *Postgres) State(ctx context.Context, ns, key string) (StateMeta, error) {
	var m StateMeta
	err := s.db.GetContext(ctx, &m, pgSelectStates+` WHERE namespace = $1 AND key = $2`, ns, key)
	return m, notFound(err)
}

// States implements Store.
func (s *Postgres) States(ctx context.Context, ns, prefix, after string, limit int) ([]StateMeta, error) {
	var out []StateMeta
	err := s.db.SelectContext(ctx, &out, pgSelectStates+` WHERE namespace = $1 AND key > $2 AND left(key, $3) = $4 ORDER BY key COLLATE "C" LIMIT $5`, ns, after, len([]rune(prefix)), prefix, limit)
	return out, err
}

// Heads implements Shared.
func (s *Postgres) Heads(ctx context.Context, ns string, keys []string) (map[string]uint64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, seq FROM states WHERE namespace = $1 AND key = ANY($2)`, ns, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]uint64, len(keys))
	for rows.Next() {
		var k string
		var seq int64
		if err := rows.Scan(&k, &seq); err != nil {
			return nil, err
		}
		out[k] = uint64(seq)
	}
	return out, rows.Err()
}

// Namespaces implements Store.
func (s *Postgres) Namespaces(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.SelectContext(ctx, &out, `SELECT name FROM namespaces ORDER BY name`)
	return out, err
}

// LatestSnapshot implements Store.
func (s *Postgres) LatestSnapshot(ctx context.Context, ns, key string, atOrBelow uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.db.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = $1 AND key = $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1`, ns, key, int64(min(atOrBelow, 1<<62)))
	return snap, notFound(err)
}

// FirstSnapshot implements Store.
func (s *Postgres) FirstSnapshot(ctx context.Context, ns, key string, atOrAbove uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.db.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = $1 AND key = $2 AND seq >= $3 ORDER BY seq LIMIT 1`, ns, key, int64(min(atOrAbove, 1<<62)))
	return snap, notFound(err)
}

// Events implements Store.
func (s *Postgres) Events(ctx context.Context, ns, key string, after uint64, limit int) ([]Event, error) {
	out := make([]Event, 0, min(limit, 1024))
	err := s.db.SelectContext(ctx, &out, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = $1 AND key = $2 AND seq > $3 ORDER BY seq LIMIT $4`, ns, key, int64(min(after, 1<<62)), limit)
	return out, err
}

// EachEvent implements Store.
func (s *Postgres) EachEvent(ctx context.Context, ns, key string, after, upto uint64, fn func(*Event) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = $1 AND key = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`, ns, key, int64(min(after, 1<<62)), int64(min(upto, 1<<62)))
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
	}
	return rows.Err()
}

// FirstSeq implements Store.
func (s *Postgres) FirstSeq(ctx context.Context, ns, key string) (uint64, error) {
	var seq sql.NullInt64
	err := s.db.GetContext(ctx, &seq, `SELECT MIN(seq) FROM events WHERE namespace = $1 AND key = $2`, ns, key)
	return uint64(seq.Int64), err
}

// FindEvent implements Store.
func (s *Postgres) FindEvent(ctx context.Context, ns, key, client string, mid uint64) (Event, error) {
	var e Event
	err := s.db.GetContext(ctx, &e, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = $1 AND key = $2 AND client = $3 AND mid = $4`, ns, key, client, int64(min(mid, 1<<62)))
	return e, notFound(err)
}

// ClientMid implements Store.
func (s *Postgres) ClientMid(ctx context.Context, ns, key, client string) (uint64, error) {
	var mid uint64
	err := s.db.GetContext(ctx, &mid, `SELECT mid FROM client_mids WHERE namespace = $1 AND key = $2 AND client = $3`, ns, key, client)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return mid, err
}

// Rejections implements Store.
func (s *Postgres) Rejections(ctx context.Context, ns, key, client string, after uint64) ([]Rejection, error) {
	var out []Rejection
	err := s.db.SelectContext(ctx, &out, `SELECT client, mid, name, code, message FROM rejections WHERE namespace = $1 AND key = $2 AND client = $3 AND mid > $4 ORDER BY mid`, ns, key, client, int64(min(after, 1<<62)))
	return out, err
}

// Usage implements Store.
func (s *Postgres) Usage(ctx context.Context, ns string) (Usage, error) {
	var u Usage
	err := s.db.GetContext(ctx, &u.Bytes, `SELECT bytes FROM usage WHERE namespace = $1`, ns)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return u, err
	}
	err = s.db.GetContext(ctx, &u.Keys, `SELECT COUNT(*) FROM states WHERE namespace = $1`, ns)
	return u, err
}

// ClaimClient implements Store.
func (s *Postgres) ClaimClient(ctx context.Context, ns, client, actor string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO clients (namespace, client, actor, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, ns, client, actor, time.Now().UnixMilli()); err != nil {
		return "", err
	}
	var owner string
	err := s.db.GetContext(ctx, &owner, `SELECT actor FROM clients WHERE namespace = $1 AND client = $2`, ns, client)
	return owner, err
}

// EnsureNamespace implements Store.
func (s *Postgres) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO namespaces (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, ns, time.Now().UnixMilli())
	return err
}

// CreateKey implements Store.
func (s *Postgres) CreateKey(ctx context.Context, k APIKey) error {
	if err := s.EnsureNamespace(ctx, k.Namespace); err != nil {
		return err
	}
	_, err := s.db.NamedExecContext(ctx, `INSERT INTO api_keys (id, namespace, hash, actor, role, created_at, grants) VALUES (:id, :namespace, :hash, :actor, :role, :created_at, :grants)`, k)
	return err
}

// Key implements Store.
func (s *Postgres) Key(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.db.GetContext(ctx, &k, `SELECT id, namespace, hash, actor, role, created_at, revoked_at, grants FROM api_keys WHERE id = $1`, id)
	return k, notFound(err)
}

// Keys implements Store.
func (s *Postgres) Keys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	err := s.db.SelectContext(ctx, &out, `SELECT id, namespace, hash, actor, role, created_at, revoked_at, grants FROM api_keys ORDER BY created_at, id`)
	return out, err
}

// RevokeKey implements Store.
func (s *Postgres) RevokeKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, time.Now().UnixMilli(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ---- hearing the other servers ----

// Watch implements Shared: a goroutine holds one connection that LISTENs,
// and reconnects with backoff when it is lost; after each (re)connect fn
// hears "anything may have moved" (an empty ns), since notifications sent
// while it was away are lost.
func (s *Postgres) Watch(fn func(ns, key string, head uint64)) {
	s.watchOnce.Do(func() {
		s.wg.Add(1)
		go s.listen(fn)
	})
}

func (s *Postgres) listen(fn func(ns, key string, head uint64)) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for s.life.Err() == nil {
		err := s.listenOnce(fn)
		if s.life.Err() != nil {
			return
		}
		_ = err // the pool's next failure reports the database's state
		select {
		case <-time.After(backoff):
		case <-s.life.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Postgres) listenOnce(fn func(ns, key string, head uint64)) error {
	cfg, err := pgx.ParseConfig(s.url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.life, 10*time.Second)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(s.life, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	fn("", "", 0) // what was sent while nobody listened is lost
	for {
		ctx, cancel := context.WithTimeout(s.life, s.opt.CheckEvery)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if s.life.Err() != nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Quiet: make sure the connection is still there.
			pctx, pcancel := context.WithTimeout(s.life, 5*time.Second)
			err = conn.Ping(pctx)
			pcancel()
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		var p []json.RawMessage
		var ns, key string
		var head uint64
		if json.Unmarshal([]byte(n.Payload), &p) != nil || len(p) != 3 ||
			json.Unmarshal(p[0], &ns) != nil || json.Unmarshal(p[1], &key) != nil || json.Unmarshal(p[2], &head) != nil {
			continue
		}
		fn(ns, key, head)
	}
}

var (
	_ Shared = (*Postgres)(nil)
	_        = stdlib.GetDefaultDriver // the "pgx" database/sql driver
)

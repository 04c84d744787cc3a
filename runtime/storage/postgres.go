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
	// Writers is how many group commits run at once (default 4): each
	// waits for its round trips and its commit, so several overlap. A
	// key is in one of them at a time (its room waits for its Write).
	Writers int
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
	if opt.Writers <= 0 {
		opt.Writers = 4
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
	s.b.start(opt.MaxBatch, opt.Writers, s.commit)
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
	type head struct {
		ns, key, epoch string
		seq            uint64
	}
	var heads []head
	// Every server locks the keys' rows of a batch in one order, so that
	// two batches wait for each other at most one way: no deadlock (which
	// PostgreSQL would break only after deadlock_timeout, a second).
	sort.SliceStable(batch, func(i, j int) bool {
		a, b := batch[i].w, batch[j].w
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Key < b.Key
	})
	// New namespaces' rows first, in order, then the keys': one lock
	// order for every server.
	var nss []string
	for _, r := range batch {
		if r.w.Create != nil && (len(nss) == 0 || nss[len(nss)-1] != r.w.Namespace) {
			nss = append(nss, r.w.Namespace)
		}
	}
	for _, ns := range nss {
		if _, err = tx.ExecContext(ctx, `INSERT INTO namespaces (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, ns, now); err != nil {
			return fmt.Errorf("storage: namespace %s: %w", ns, err)
		}
	}
	for _, r := range batch {
		w := r.w
		w.UsageDelta = 0
		r.failed = nil
		// A Write that conflicts finds out before it writes anything (or
		// undoes its one write itself): no savepoint, which would cost
		// two round trips per Write.
		if err = s.writeOne(ctx, tx, w, now); errors.Is(err, errConflict) {
			err = nil
			w.UsageDelta = 0
			r.failed = ErrConflict
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case w.Delete:
			heads = append(heads, head{w.Namespace, w.Key, "", 0})
		case len(w.Events) > 0:
			heads = append(heads, head{w.Namespace, w.Key, w.Epoch, w.Events[len(w.Events)-1].Seq})
		case w.Create != nil:
			heads = append(heads, head{w.Namespace, w.Key, w.Create.Epoch, w.Create.Seq})
		}
	}
	// The other servers hear which key reached which seq when this
	// commits (NOTIFY is delivered at commit, in commit order).
	if len(heads) > 0 {
		payloads := make([]string, 0, len(heads))
		for _, h := range heads {
			payload, _ := json.Marshal([]any{h.ns, h.key, h.seq, h.epoch})
			if len(payload) > 7900 {
				payload, _ = json.Marshal([]any{"", "", 0, ""}) // too long to say which: "anything"
			}
			payloads = append(payloads, string(payload))
		}
		if _, err = tx.ExecContext(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, notifyChannel, payloads); err != nil {
			return fmt.Errorf("storage: notify: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		// The connection may have failed after PostgreSQL committed: the
		// batch is not run again, Write by Write, where it would conflict
		// with itself. Its rooms reload from the log, which tells.
		return &ambiguousError{fmt.Errorf("storage: commit: %w", err)}
	}
	return nil
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
		// The key's row: the head moves from the base (0 rows: another
		// server moved it first) and the row stays locked until commit,
		// so no other server's Write to the key can change its cursors
		// or log meanwhile.
		res, err := tx.ExecContext(ctx, `UPDATE states SET seq = $1 WHERE namespace = $2 AND key = $3 AND seq = $4 AND epoch = $5`, int64(head), ns, key, int64(w.Base), w.Epoch)
		if err != nil {
			return fmt.Errorf("storage: head %s/%s: %w", ns, key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errConflict
		}
		// A client's cursor only moves forward: a Write that would process
		// a mutation another server processed already (a refusal moves a
		// cursor without moving the head) is a conflict too. This
		// statement's snapshot is taken under the row's lock, so it sees
		// every Write to the key committed before.
		if len(w.Mids) > 0 {
			clients, mids := firstMids(w)
			var ahead bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM client_mids c JOIN unnest($3::text[], $4::bigint[]) AS n(client, mid) ON c.client = n.client
				WHERE c.namespace = $1 AND c.key = $2 AND c.mid >= n.mid)`, ns, key, clients, mids).Scan(&ahead); err != nil {
				return fmt.Errorf("storage: client mid %s/%s: %w", ns, key, err)
			}
			if ahead {
				if err := exec("head", `UPDATE states SET seq = $1 WHERE namespace = $2 AND key = $3`, int64(w.Base), ns, key); err != nil {
					return err
				}
				return errConflict
			}
		}
	}
	if w.Fingerprint != "" {
		if err := exec("fingerprint", `UPDATE states SET fingerprint = $1 WHERE namespace = $2 AND key = $3`, w.Fingerprint, ns, key); err != nil {
			return err
		}
	}
	// The events in one statement: one round trip per Write, not per
	// event.
	if n := len(w.Events); n > 0 {
		seqs, mids, times := make([]int64, n), make([]int64, n), make([]int64, n)
		clients, names, actors := make([]string, n), make([]string, n), make([]string, n)
		args := make([][]byte, n)
		for i := range w.Events {
			e := &w.Events[i]
			seqs[i], mids[i], times[i] = int64(e.Seq), int64(e.Mid), e.Time
			clients[i], names[i], actors[i] = e.Client, e.Name, e.Actor
			args[i] = []byte(e.Args)
			if args[i] == nil {
				args[i] = []byte("{}")
			}
			w.UsageDelta += EventBytes(e)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (namespace, key, seq, client, mid, name, args, time, actor)
			SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::bytea[], $8::bigint[], $9::text[])`,
			ns, key, seqs, clients, mids, names, args, times, actors); err != nil {
			// A seq that exists above the head the row says: the log and
			// its row disagree. Not a conflict: the transaction is failed.
			return fmt.Errorf("storage: append %s/%s: %w", ns, key, err)
		}
	}
	if len(w.Mids) > 0 {
		clients, mids := midsOf(w.Mids)
		if err := exec("client mid", `INSERT INTO client_mids (namespace, key, client, mid) SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[])
			ON CONFLICT (namespace, key, client) DO UPDATE SET mid = excluded.mid`, ns, key, clients, mids); err != nil {
			return err
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
	if w.UsageDelta != 0 {
		// The key's row, which this transaction holds already.
		if err := exec("usage", `UPDATE states SET bytes = bytes + $1 WHERE namespace = $2 AND key = $3`, w.UsageDelta, ns, key); err != nil {
			return err
		}
	}
	return nil
}

package storage

// The group-commit writer: one goroutine, one transaction per batch.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type writeReq struct {
	w   *Write
	err chan error
	// state moves from queued to claimed (the writer took it: it will be
	// committed or failed) or to cancelled (its ctx ended first: the
	// writer skips it), once.
	state atomic.Int32
	// failed is this Write's own failure in a batch that committed (a
	// conflict with another node's Write, on PostgreSQL).
	failed error
}

const (
	reqQueued int32 = iota
	reqClaimed
	reqCancelled
)

// batcher is group commit: Writes queue, and one goroutine commits as many
// as are waiting (up to maxBatch) in one transaction.
type batcher struct {
	maxBatch int
	reqs     chan *writeReq
	closeMu  sync.RWMutex
	closed   bool
	wg       sync.WaitGroup
	// commit commits a batch in one transaction; an error fails them
	// all, and a Write's own failure goes in its failed.
	commit func([]*writeReq) error
}

// start starts workers committers: SQLite has one writer; on PostgreSQL
// several transactions overlap their round trips.
func (b *batcher) start(maxBatch, workers int, commit func([]*writeReq) error) {
	b.maxBatch, b.commit = maxBatch, commit
	b.reqs = make(chan *writeReq, 4096)
	for range workers {
		b.wg.Add(1)
		go b.run()
	}
}

// stop commits the Writes already handed over and stops the writer; later
// Writes fail with ErrClosed. It reports whether it stopped it (false: it
// was stopped before).
func (b *batcher) stop() bool {
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return false
	}
	b.closed = true
	close(b.reqs)
	b.closeMu.Unlock()
	b.wg.Wait()
	return true
}

// write honours ctx until the writer takes the Write into a batch: a Write
// whose ctx ends while it waits in the queue returns ctx's error and is
// not committed. Once taken, it is committed or failed whatever ctx says,
// so that its answer is always the truth: nil if and only if w is in the
// log.
func (b *batcher) write(ctx context.Context, w *Write) error {
	b.closeMu.RLock()
	if b.closed {
		b.closeMu.RUnlock()
		return ErrClosed
	}
	req := &writeReq{w: w, err: make(chan error, 1)}
	select {
	case b.reqs <- req:
	case <-ctx.Done():
		b.closeMu.RUnlock()
		return ctx.Err()
	}
	b.closeMu.RUnlock()
	select {
	case err := <-req.err:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqCancelled) {
			return ctx.Err()
		}
		return <-req.err
	}
}

// Write implements Store.
func (s *SQLite) Write(ctx context.Context, w *Write) error { return s.b.write(ctx, w) }

// ambiguousError is a commit whose outcome is unknown (the connection
// failed at COMMIT): the batch may be in the log.
type ambiguousError struct{ err error }

func (e *ambiguousError) Error() string {
	return e.err.Error() + " (the batch may have been committed)"
}
func (e *ambiguousError) Unwrap() error { return e.err }

// claim takes the queued requests that were not cancelled.
func claim(batch []*writeReq) []*writeReq {
	kept := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqClaimed) {
			kept = append(kept, r)
		}
	}
	return kept
}

func (b *batcher) run() {
	defer b.wg.Done()
	batch := make([]*writeReq, 0, b.maxBatch)
	for {
		req, ok := <-b.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
	fill:
		for len(batch) < b.maxBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if batch = claim(batch); len(batch) == 0 {
			continue
		}
		err := b.commit(batch)
		var amb *ambiguousError
		if err != nil && len(batch) > 1 && !errors.As(err, &amb) {
			// One bad Write must not fail the others: retry one by one.
			for _, r := range batch {
				r.failed = nil
				if err := b.commit([]*writeReq{r}); err != nil {
					r.err <- err
				} else {
					r.err <- r.failed
				}
			}
			continue
		}
		for _, r := range batch {
			if err != nil {
				r.err <- err
			} else {
				r.err <- r.failed
			}
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

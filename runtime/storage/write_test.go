package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Concurrent Writes all succeed, whatever the batching (group commit, small
// batches, one transaction per Write), and after Close and a reopen every
// acknowledged event is in its key's log exactly once, in seq order, with
// the dedup cursors and the namespace's usage that go with them.
func TestGroupCommitConcurrentWrites(t *testing.T) {
	for _, maxBatch := range []int{0, 7, 1} {
		t.Run(fmt.Sprintf("MaxBatch=%d", maxBatch), func(t *testing.T) {
			const goroutines, perGoroutine, keys = 8, 50, 3
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			s := openStore(t, path, SQLiteOptions{MaxBatch: maxBatch, Exclusive: true})
			keyName := func(k int) string { return fmt.Sprint("k", k) }
			for k := range keys {
				createKey(t, s, "ns", keyName(k))
			}

			type ack struct {
				client string
				mid    uint64
			}
			var (
				mu      sync.Mutex
				nextSeq = make([]uint64, keys)
				acked   = make([]map[uint64]ack, keys) // key -> seq -> event
				maxMid  = make([]map[string]uint64, keys)
				sum     int64
				wg      sync.WaitGroup
			)
			for k := range keys {
				acked[k], maxMid[k] = map[uint64]ack{}, map[string]uint64{}
			}
			within(t, 15*time.Second, "concurrent writes", func() {
				for g := range goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						client := fmt.Sprint("c", g)
						for i := range perGoroutine {
							k := (g + i) % keys
							mid := uint64(i + 1)
							// Seqs are handed out per key in the order the
							// Writes are made; the writer may commit them
							// in any order.
							mu.Lock()
							nextSeq[k]++
							seq := nextSeq[k]
							mu.Unlock()
							w := &Write{Namespace: "ns", Key: keyName(k), Events: []Event{ev(seq, client, mid)}, Mids: map[string]uint64{client: mid}}
							if err := s.Write(ctx, w); err != nil {
								t.Errorf("write %s seq %d: %v", keyName(k), seq, err)
								return
							}
							mu.Lock()
							acked[k][seq] = ack{client, mid}
							maxMid[k][client] = max(maxMid[k][client], mid)
							sum += w.UsageDelta
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
			})
			if t.Failed() {
				return
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openStore(t, path, SQLiteOptions{Exclusive: true})
			total := 0
			for k := range keys {
				evs := allEvents(t, s, "ns", keyName(k))
				total += len(evs)
				if len(evs) != len(acked[k]) {
					t.Errorf("%s: %d events in the log, %d acknowledged", keyName(k), len(evs), len(acked[k]))
				}
				for i, e := range evs {
					if e.Seq != uint64(i+1) {
						t.Fatalf("%s: event %d has seq %d: the log is not 1..n in order", keyName(k), i, e.Seq)
					}
					a, ok := acked[k][e.Seq]
					if !ok || a.client != e.Client || a.mid != e.Mid {
						t.Errorf("%s seq %d: stored %s/%d, acknowledged %+v (%v)", keyName(k), e.Seq, e.Client, e.Mid, a, ok)
					}
					if want := fmt.Sprintf(`{"seq":%d}`, e.Seq); string(e.Args) != want {
						t.Errorf("%s seq %d: args %s, want %s", keyName(k), e.Seq, e.Args, want)
					}
				}
				m, err := s.State(ctx, "ns", keyName(k))
				if err != nil || m.Seq != uint64(len(acked[k])) {
					t.Errorf("%s: state %+v (%v), want head %d", keyName(k), m, err, len(acked[k]))
				}
				for client, mid := range maxMid[k] {
					if got, err := s.ClientMid(ctx, "ns", keyName(k), client); err != nil || got != mid {
						t.Errorf("%s: client %s's mid is %d (%v), want %d", keyName(k), client, got, err, mid)
					}
				}
			}
			if total != goroutines*perGoroutine {
				t.Errorf("%d events stored, %d written", total, goroutines*perGoroutine)
			}
			checkUsage(t, s, "ns", sum)
		})
	}
}

// A Write that fails in a group commit fails alone: the batch's transaction
// is rolled back and its Writes are retried one by one (writer, "One bad
// Write must not fail the others"), so the others in the same batch commit,
// and nothing of the failed one does (a Write is all or nothing).
func TestGroupCommitFailureIsolation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	var sum int64
	okWrite := func(w *Write) {
		t.Helper()
		mustWrite(t, s, w)
		sum += w.UsageDelta
	}
	createKey(t, s, "ns", "a")
	createKey(t, s, "ns", "b")
	okWrite(&Write{Namespace: "ns", Key: "a", Events: []Event{ev(1, "c", 1), ev(2, "c", 2)}, Mids: map[string]uint64{"c": 2}})

	// The writer takes the plug and blocks; everything below queues up
	// behind it and is then taken as one batch.
	release := stallWriter(t, s)
	base := writerWaits(s)
	plug := &Write{Namespace: "ns", Key: "plug", Create: &StateMeta{Type: "t", Fingerprint: "f", Epoch: "e"}}
	plugErr := make(chan error, 1)
	go func() { plugErr <- s.Write(ctx, plug) }()
	waitFor(t, "the writer to block on its connection", func() bool { return writerWaits(s) > base })

	batch := []struct {
		name string
		w    *Write
		bad  bool
	}{
		{"append a/3", &Write{Namespace: "ns", Key: "a", Events: []Event{ev(3, "c", 3)}, Mids: map[string]uint64{"c": 3}}, false},
		// Its first event is new, its second one's seq is taken: the
		// first must not survive the failure.
		{"append a/50 and a/2 again", &Write{Namespace: "ns", Key: "a", Events: []Event{ev(50, "x", 1), ev(2, "x", 2)}, Mids: map[string]uint64{"x": 2},
			Rejections: []Rejection{{Client: "x", Mid: 3, Name: "Add", Code: "no", Message: "no"}}}, true},
		{"create c", &Write{Namespace: "ns", Key: "c", Create: &StateMeta{Type: "t", Fingerprint: "f", Epoch: "e"}}, false},
		{"create b again", &Write{Namespace: "ns", Key: "b", Create: &StateMeta{Type: "other", Fingerprint: "g", Epoch: "e2"}, Events: []Event{ev(9, "y", 1)}}, true},
		{"append b/1 with a snapshot", &Write{Namespace: "ns", Key: "b", Events: []Event{ev(1, "c", 1)}, Snapshot: &Snapshot{Seq: 1, State: []byte(`{"n":1}`)}, KeepSnapshots: 2}, false},
		{"append d/1 in another namespace", &Write{Namespace: "ns2", Key: "d", Events: []Event{ev(1, "c", 1)}}, false},
	}
	errs := make([]chan error, len(batch))
	for i := range batch {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.Write(ctx, batch[i].w) }()
	}
	waitFor(t, "the batch to queue up", func() bool { return queued(s) == len(batch) })
	release()

	within(t, 10*time.Second, "the batch", func() {
		if err := <-plugErr; err != nil {
			t.Errorf("plug: %v", err)
		}
		for i, b := range batch {
			err := <-errs[i]
			var se sqlite3.Error
			switch {
			case !b.bad && err != nil:
				t.Errorf("%s: %v; a good Write failed with a bad one in its batch", b.name, err)
			case b.bad && err == nil:
				t.Errorf("%s: no error", b.name)
			case b.bad && !(errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey):
				t.Errorf("%s: %v, want a primary key constraint error", b.name, err)
			case !b.bad && b.w.Namespace == "ns":
				sum += b.w.UsageDelta
			}
		}
	})
	if t.Failed() {
		return
	}

	check := func(s *SQLite) {
		t.Helper()
		evs := allEvents(t, s, "ns", "a")
		var seqs []uint64
		for _, e := range evs {
			seqs = append(seqs, e.Seq)
			if e.Client != "c" {
				t.Errorf("a seq %d belongs to %q: the failed Write overwrote it", e.Seq, e.Client)
			}
		}
		if fmt.Sprint(seqs) != "[1 2 3]" {
			t.Errorf("a's log has seqs %v, want [1 2 3]", seqs)
		}
		if mid, _ := s.ClientMid(ctx, "ns", "a", "x"); mid != 0 {
			t.Errorf("the failed Write moved client x's mid to %d", mid)
		}
		if rj, _ := s.Rejections(ctx, "ns", "a", "x", 0); len(rj) != 0 {
			t.Errorf("the failed Write stored rejections %+v", rj)
		}
		if m, err := s.State(ctx, "ns", "b"); err != nil || m.Type != "t" || m.Epoch != "e" || m.Seq != 1 {
			t.Errorf("b: %+v (%v); the failed create touched it", m, err)
		}
		if evs := allEvents(t, s, "ns", "b"); len(evs) != 1 || evs[0].Seq != 1 {
			t.Errorf("b's log: %+v", evs)
		}
		if snap, err := s.LatestSnapshot(ctx, "ns", "b", 1); err != nil || string(snap.State) != `{"n":1}` {
			t.Errorf("b's snapshot: %+v (%v)", snap, err)
		}
		for _, key := range []string{"c", "plug"} {
			if _, err := s.State(ctx, "ns", key); err != nil {
				t.Errorf("%s was not created: %v", key, err)
			}
		}
		if evs := allEvents(t, s, "ns2", "d"); len(evs) != 1 {
			t.Errorf("ns2/d's log: %+v", evs)
		}
		checkUsage(t, s, "ns", sum)
	}
	check(s)

	// The writer is not wedged by the failure, and what it committed lasts.
	okWrite(&Write{Namespace: "ns", Key: "a", Events: []Event{ev(4, "c", 4)}})
	s.Close()
	s = openStore(t, path, SQLiteOptions{})
	if evs := allEvents(t, s, "ns", "a"); len(evs) != 4 {
		t.Errorf("after reopening, a has %d events, want 4", len(evs))
	}
	if mid, _ := s.ClientMid(ctx, "ns", "a", "c"); mid != 3 {
		t.Errorf("client c's mid on a is %d, want 3", mid)
	}
	checkUsage(t, s, "ns", sum)
}

// Close while Writes are in flight: every Write returns nil or ErrClosed
// (no panic, no hang), Close returns, a Write after Close fails at once, and
// the reopened file holds exactly the Writes that returned nil.
func TestCloseWhileWriting(t *testing.T) {
	const writers, maxWrites = 8, 5000
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{Exclusive: true})
	keyName := func(g int) string { return fmt.Sprint("k", g) }
	for g := range writers {
		createKey(t, s, "ns", keyName(g))
	}

	var (
		started, done sync.WaitGroup
		acked         [writers]uint64 // each writer's key holds seqs 1..acked[g]
		deltas        [writers]int64
		lastErr       [writers]error
	)
	started.Add(writers)
	done.Add(writers)
	for g := range writers {
		go func() {
			defer done.Done()
			var once sync.Once
			defer once.Do(started.Done)
			for seq := uint64(1); seq <= maxWrites; seq++ {
				w := &Write{Namespace: "ns", Key: keyName(g), Events: []Event{ev(seq, "c", seq)}, Mids: map[string]uint64{"c": seq}}
				if err := s.Write(ctx, w); err != nil {
					lastErr[g] = err
					return
				}
				acked[g], deltas[g] = seq, deltas[g]+w.UsageDelta
				if seq == 3 {
					once.Do(started.Done)
				}
			}
		}()
	}
	within(t, 10*time.Second, "the writers to get going", started.Wait)

	closeErrs := make(chan error, 2)
	for range 2 { // two Closes at once: both return
		go func() { closeErrs <- s.Close() }()
	}
	within(t, 10*time.Second, "Close and the writers", func() {
		for range 2 {
			if err := <-closeErrs; err != nil {
				t.Errorf("close: %v", err)
			}
		}
		done.Wait()
	})
	var sum int64
	for g := range writers {
		if !errors.Is(lastErr[g], ErrClosed) {
			t.Errorf("writer %d stopped after %d writes with %v, want ErrClosed", g, acked[g], lastErr[g])
		}
		sum += deltas[g]
	}
	within(t, time.Second, "a Write after Close", func() {
		if err := s.Write(ctx, &Write{Namespace: "ns", Key: "k0", Events: []Event{ev(maxWrites+1, "c", 1)}}); !errors.Is(err, ErrClosed) {
			t.Errorf("write after close: %v, want ErrClosed", err)
		}
	})

	// Reopening with Exclusive also shows that Close released the lock.
	s = openStore(t, path, SQLiteOptions{Exclusive: true})
	for g := range writers {
		evs := allEvents(t, s, "ns", keyName(g))
		if uint64(len(evs)) != acked[g] {
			t.Errorf("%s: %d events stored, %d acknowledged", keyName(g), len(evs), acked[g])
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Errorf("%s: event %d has seq %d", keyName(g), i, e.Seq)
				break
			}
		}
		if mid, err := s.ClientMid(ctx, "ns", keyName(g), "c"); err != nil || mid != acked[g] {
			t.Errorf("%s: mid %d (%v), want %d", keyName(g), mid, err, acked[g])
		}
	}
	checkUsage(t, s, "ns", sum)
}

// Close commits the Writes already handed over, even when the writer is
// busy when Close is called; a Write made once Close has begun fails with
// ErrClosed at once, without waiting for the writer.
func TestCloseCommitsQueuedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	createKey(t, s, "ns", "k")

	release := stallWriter(t, s)
	base := writerWaits(s)
	errs := make(chan error, 4)
	write := func(seq uint64) {
		errs <- s.Write(ctx, &Write{Namespace: "ns", Key: "k", Events: []Event{ev(seq, "c", seq)}})
	}
	go write(1)
	waitFor(t, "the writer to block on its connection", func() bool { return writerWaits(s) > base })
	for seq := uint64(2); seq <= 4; seq++ {
		go write(seq)
	}
	waitFor(t, "three Writes to queue up", func() bool { return queued(s) == 3 })

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(t, "Close to begin", func() bool {
		s.b.closeMu.RLock()
		defer s.b.closeMu.RUnlock()
		return s.b.closed
	})
	within(t, time.Second, "a Write while Close waits for the writer", func() {
		if err := s.Write(ctx, &Write{Namespace: "ns", Key: "k", Events: []Event{ev(5, "c", 5)}}); !errors.Is(err, ErrClosed) {
			t.Errorf("write during close: %v, want ErrClosed", err)
		}
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the writer committed what was handed over", err)
	default:
	}

	release()
	within(t, 10*time.Second, "Close", func() {
		if err := <-closed; err != nil {
			t.Errorf("close: %v", err)
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("a Write handed over before Close failed: %v", err)
			}
		}
	})
	s = openStore(t, path, SQLiteOptions{})
	var seqs []uint64
	for _, e := range allEvents(t, s, "ns", "k") {
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Errorf("log after Close: %v, want [1 2 3 4]", seqs)
	}
}

// A Write whose ctx is cancelled while it waits behind a busy writer
// returns ctx.Err() promptly, and then is not committed.
func TestWriteHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	createKey(t, s, "ns", "k")

	release, plugErr := plugWriter(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- s.Write(ctx, &Write{Namespace: "ns", Key: "k", Events: []Event{ev(2, "c", 2)}})
	}()
	waitFor(t, "the Write to queue up", func() bool { return queued(s) == 1 })
	cancel()

	var err error
	returned := false
	select {
	case err = <-errc:
		returned = true
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Write with a cancelled ctx: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("Write did not return within 2s of its ctx being cancelled (the writer is busy)")
	}
	release()
	within(t, 10*time.Second, "the Writes", func() {
		if err := <-plugErr; err != nil {
			t.Errorf("plug: %v", err)
		}
		if !returned {
			err = <-errc
		}
	})
	s.Close()
	s = openStore(t, path, SQLiteOptions{})
	if n := len(allEvents(t, s, "ns", "k")); err != nil && n != 1 {
		t.Errorf("the Write returned %v, yet it was committed (%d events)", err, n)
	}
}

// Whatever Write does with a cancelled ctx, its answer is the truth: it
// returns nil if and only if the Write is in the log. Write's comment says
// that a Write, once handed over, is committed whatever ctx says, so that
// callers need not guess.
func TestWriteCancelledResultMatchesLog(t *testing.T) {
	t.Run("cancelled while queued", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		s := openStore(t, path, SQLiteOptions{})
		createKey(t, s, "ns", "k")
		release, plugErr := plugWriter(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- s.Write(ctx, &Write{Namespace: "ns", Key: "k", Events: []Event{ev(2, "c", 2)}})
		}()
		waitFor(t, "the Write to queue up", func() bool { return queued(s) == 1 })
		cancel()
		release()
		var err error
		within(t, 10*time.Second, "the Writes", func() {
			if err := <-plugErr; err != nil {
				t.Errorf("plug: %v", err)
			}
			err = <-errc
		})
		s.Close()
		s = openStore(t, path, SQLiteOptions{})
		stored := len(allEvents(t, s, "ns", "k")) == 2
		if (err == nil) != stored {
			t.Errorf("Write returned %v; its event stored: %v", err, stored)
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		s := openStore(t, path, SQLiteOptions{})
		createKey(t, s, "ns", "k")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var err error
		within(t, 10*time.Second, "Write", func() {
			err = s.Write(ctx, &Write{Namespace: "ns", Key: "k", Events: []Event{ev(1, "c", 1)}})
		})
		s.Close()
		s = openStore(t, path, SQLiteOptions{})
		stored := len(allEvents(t, s, "ns", "k")) == 1
		if (err == nil) != stored {
			t.Errorf("Write returned %v; its event stored: %v", err, stored)
		}
	})
}

// plugWriter stalls the writer on a first Write of event 1 to ns/k, and
// returns the function that lets it go and that Write's answer.
func plugWriter(t *testing.T, s *SQLite) (release func(), plugErr chan error) {
	t.Helper()
	release = stallWriter(t, s)
	base := writerWaits(s)
	plugErr = make(chan error, 1)
	go func() {
		plugErr <- s.Write(context.Background(), &Write{Namespace: "ns", Key: "k", Events: []Event{ev(1, "c", 1)}})
	}()
	waitFor(t, "the writer to block on its connection", func() bool { return writerWaits(s) > base })
	return release, plugErr
}

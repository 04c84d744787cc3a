package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every test closes what it opens: the writer goroutine, database/sql's
// connection openers and the driver's context watchers must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openStore opens the store at path and closes it when the test ends (a
// second Close is harmless, so tests may close it themselves).
func openStore(t *testing.T, path string, opt SQLiteOptions) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path, opt)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustWrite writes w and fails the test if it fails.
func mustWrite(t *testing.T, s *SQLite, w *Write) {
	t.Helper()
	if err := s.Write(context.Background(), w); err != nil {
		t.Fatalf("write %s/%s: %v", w.Namespace, w.Key, err)
	}
}

// createKey makes a key with no events.
func createKey(t *testing.T, s *SQLite, ns, key string) {
	t.Helper()
	mustWrite(t, s, &Write{Namespace: ns, Key: key, Create: &StateMeta{Type: "t", Fingerprint: "f", Epoch: "e"}})
}

// ev is the event at seq of client c with mid.
func ev(seq uint64, c string, mid uint64) Event {
	return Event{Seq: seq, Client: c, Mid: mid, Name: "Add", Args: []byte(fmt.Sprintf(`{"seq":%d}`, seq)), Time: int64(seq), Actor: "actor-" + c}
}

// within runs f and fails the test if it does not return within d. f runs
// on another goroutine, so it must report with t.Error, not t.Fatal.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", what, d)
	}
}

// waitFor polls cond until it holds; it fails the test after 5 s. It
// waits for a state to be reached, it does not order anything by time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// stallWriter takes the writer's only connection out of the pool, so that
// the writer goroutine, at its next commit, blocks in Begin waiting for it
// (database/sql counts that wait in Stats().WaitCount). The returned func
// gives the connection back; it also runs at cleanup, before the store's
// Close (cleanups run last-in first-out), which would otherwise wait for
// the writer forever.
func stallWriter(t *testing.T, s *SQLite) (release func()) {
	t.Helper()
	conn, err := s.w.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { conn.Close() }) }
	t.Cleanup(release)
	return release
}

// writerWaits reports the writer's waits for its connection so far.
func writerWaits(s *SQLite) int64 { return s.w.Stats().WaitCount }

// queued is how many Writes are handed over but not yet taken by the
// writer goroutine.
func queued(s *SQLite) int { return len(s.b.reqs) }

// recountUsage counts what ns stores from its rows, as migration 0003 and
// usage.go count it.
func recountUsage(t *testing.T, s *SQLite, ns string) int64 {
	t.Helper()
	var n int64
	err := s.r.Get(&n, `SELECT COALESCE(SUM(b), 0) FROM (
		SELECT length(args) + length(CAST(name AS BLOB)) + length(CAST(client AS BLOB)) + length(CAST(actor AS BLOB)) + 48 AS b FROM events WHERE namespace = ?
		UNION ALL
		SELECT length(state) + 48 FROM snapshots WHERE namespace = ?)`, ns, ns)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkUsage fails the test unless ns's stored usage equals a fresh count
// from its rows (and want, if want >= 0).
func checkUsage(t *testing.T, s *SQLite, ns string, want int64) {
	t.Helper()
	u, err := s.Usage(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if rows := recountUsage(t, s, ns); u.Bytes != rows {
		t.Errorf("namespace %s: usage %d bytes, its rows count %d", ns, u.Bytes, rows)
	}
	if want >= 0 && u.Bytes != want {
		t.Errorf("namespace %s: usage %d bytes, the UsageDeltas add up to %d", ns, u.Bytes, want)
	}
}

// allEvents returns the key's whole log.
func allEvents(t *testing.T, s *SQLite, ns, key string) []Event {
	t.Helper()
	evs, err := s.Events(context.Background(), ns, key, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// snapshotSeqs returns the seqs of the key's stored snapshots, ascending.
func snapshotSeqs(t *testing.T, s *SQLite, ns, key string) []uint64 {
	t.Helper()
	var seqs []uint64
	if err := s.r.Select(&seqs, `SELECT seq FROM snapshots WHERE namespace = ? AND key = ? ORDER BY seq`, ns, key); err != nil {
		t.Fatal(err)
	}
	return seqs
}

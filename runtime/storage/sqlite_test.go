package storage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/better-state/better-state/runtime/storage"
)

func open(t *testing.T, path string) *storage.SQLite {
	t.Helper()
	st, err := storage.OpenSQLite(path, storage.SQLiteOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Snapshots beyond KeepSnapshots go, and the namespace's usage follows
// every write, compaction and deletion to the byte: Usage after them
// equals the sum of the UsageDeltas, and a fresh count from the rows.
func TestSnapshotRetentionAndUsage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := open(t, path)
	var sum int64
	write := func(w *storage.Write) {
		t.Helper()
		w.Namespace, w.Key = "ns", "k"
		if err := st.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
		sum += w.UsageDelta
	}
	write(&storage.Write{Create: &storage.StateMeta{Type: "t", Fingerprint: "f", Epoch: "e"}})
	seq := uint64(0)
	for round := range 6 {
		var evs []storage.Event
		for range 4 {
			seq++
			evs = append(evs, storage.Event{Seq: seq, Client: "c", Mid: seq, Name: "Add", Args: []byte(fmt.Sprintf(`{"n":%d}`, seq)), Actor: "a"})
		}
		w := &storage.Write{Events: evs, Mids: map[string]uint64{"c": seq}, Snapshot: &storage.Snapshot{Seq: seq, State: []byte(fmt.Sprintf(`{"round":%d}`, round))}, KeepSnapshots: 2}
		if round == 5 {
			w.CompactBelow = seq - 2
		}
		write(w)
	}
	u, err := st.Usage(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != sum || u.Keys != 1 {
		t.Fatalf("usage %+v, deltas add up to %d", u, sum)
	}
	// Two snapshots are left (the newest two), then compaction keeps one.
	if _, err := st.LatestSnapshot(ctx, "ns", "k", 16); err == nil {
		t.Fatal("an old snapshot survived retention")
	}
	snap, err := st.LatestSnapshot(ctx, "ns", "k", seq)
	if err != nil || snap.Seq != seq {
		t.Fatalf("newest snapshot: %+v %v", snap, err)
	}
	evs, _ := st.Events(ctx, "ns", "k", 0, 100)
	var want int64
	for i := range evs {
		want += storage.EventBytes(&evs[i])
	}
	want += storage.SnapshotBytes(snap.State)
	if u.Bytes != want {
		t.Fatalf("usage %d, rows %d", u.Bytes, want)
	}
	// Reopened, the count is the same; deleting the key takes it to zero.
	st.Close()
	st = open(t, path)
	write(&storage.Write{Delete: true})
	if u, err := st.Usage(ctx, "ns"); err != nil || u.Bytes != 0 || u.Keys != 0 || sum != 0 {
		t.Fatalf("after delete: usage %+v (%v), deltas %d", u, err, sum)
	}
}

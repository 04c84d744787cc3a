package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// snapshotWrite appends events from..to to the key and stores a snapshot at
// to, with the retention given.
func snapshotWrite(ns, key string, from, to uint64, keep int, compactBelow uint64) *Write {
	var evs []Event
	for seq := from; seq <= to; seq++ {
		evs = append(evs, ev(seq, "c", seq))
	}
	return &Write{Namespace: ns, Key: key, Events: evs, Mids: map[string]uint64{"c": to},
		Snapshot: &Snapshot{Seq: to, State: []byte(fmt.Sprintf(`{"at":%d}`, to))}, KeepSnapshots: keep, CompactBelow: compactBelow}
}

// checkLatest checks LatestSnapshot(atOrBelow) for each entry: the seq of
// the snapshot it must return, 0 for ErrNotFound.
func checkLatest(t *testing.T, s *SQLite, ns, key string, want map[uint64]uint64) {
	t.Helper()
	for at, seq := range want {
		snap, err := s.LatestSnapshot(context.Background(), ns, key, at)
		switch {
		case seq == 0:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: LatestSnapshot(%d) = %d, %v; want ErrNotFound", key, at, snap.Seq, err)
			}
		case err != nil || snap.Seq != seq || string(snap.State) != fmt.Sprintf(`{"at":%d}`, seq):
			t.Errorf("%s: LatestSnapshot(%d) = %d %s, %v; want the snapshot at %d", key, at, snap.Seq, snap.State, err, seq)
		}
	}
}

// KeepSnapshots keeps the key's newest n snapshots and removes the older
// ones, touches neither the log nor other keys' snapshots, and
// LatestSnapshot answers from what is left, before and after a reopen.
func TestKeepSnapshots(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	var sum int64
	write := summing(t, &s, &sum)
	createKey(t, s, "ns", "k")
	createKey(t, s, "ns", "other")
	// k: snapshots at 4, 8, ..., 24, keeping 3. other: KeepSnapshots 0 keeps
	// them all.
	for round := uint64(1); round <= 6; round++ {
		write(snapshotWrite("ns", "k", 4*round-3, 4*round, 3, 0))
		if round <= 2 {
			write(snapshotWrite("ns", "other", 4*round-3, 4*round, 0, 0))
		}
	}
	if got := snapshotSeqs(t, s, "ns", "k"); fmt.Sprint(got) != "[16 20 24]" {
		t.Errorf("k's snapshots: %v, want [16 20 24]", got)
	}
	if got := snapshotSeqs(t, s, "ns", "other"); fmt.Sprint(got) != "[4 8]" {
		t.Errorf("other's snapshots: %v, want [4 8]", got)
	}
	latest := map[uint64]uint64{0: 0, 4: 0, 15: 0, 16: 16, 19: 16, 20: 20, 23: 20, 24: 24, 1 << 40: 24}
	checkLatest(t, s, "ns", "k", latest)
	checkLatest(t, s, "ns", "other", map[uint64]uint64{3: 0, 4: 4, 7: 4, 8: 8, 100: 8})
	// Retention is of snapshots only: the log is whole.
	if evs := allEvents(t, s, "ns", "k"); len(evs) != 24 {
		t.Errorf("k has %d events, want 24", len(evs))
	}
	if first, err := s.FirstSeq(ctx, "ns", "k"); err != nil || first != 1 {
		t.Errorf("FirstSeq %d (%v), want 1", first, err)
	}
	if m, err := s.State(ctx, "ns", "k"); err != nil || m.Seq != 24 {
		t.Errorf("state %+v (%v)", m, err)
	}
	checkUsage(t, s, "ns", sum)

	s.Close()
	s = openStore(t, path, SQLiteOptions{})
	checkLatest(t, s, "ns", "k", latest)

	// Down to one: only the new snapshot is left.
	write(snapshotWrite("ns", "k", 25, 28, 1, 0))
	if got := snapshotSeqs(t, s, "ns", "k"); fmt.Sprint(got) != "[28]" {
		t.Errorf("k's snapshots with KeepSnapshots 1: %v, want [28]", got)
	}
	checkLatest(t, s, "ns", "k", map[uint64]uint64{27: 0, 28: 28, 29: 28})
	if got := snapshotSeqs(t, s, "ns", "other"); fmt.Sprint(got) != "[4 8]" {
		t.Errorf("other's snapshots: %v, want [4 8]", got)
	}
	checkUsage(t, s, "ns", sum)
}

// CompactBelow removes the events below it and the snapshots older than the
// one stored with it; the head survives a log compacted down to nothing.
func TestCompactBelow(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	var sum int64
	write := summing(t, &s, &sum)
	createKey(t, s, "ns", "k")
	write(snapshotWrite("ns", "k", 1, 5, 0, 0))
	write(snapshotWrite("ns", "k", 6, 10, 0, 0))
	write(snapshotWrite("ns", "k", 11, 20, 0, 15))

	var seqs []uint64
	for _, e := range allEvents(t, s, "ns", "k") {
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[15 16 17 18 19 20]" {
		t.Errorf("log after CompactBelow 15: %v", seqs)
	}
	if first, err := s.FirstSeq(ctx, "ns", "k"); err != nil || first != 15 {
		t.Errorf("FirstSeq %d (%v), want 15", first, err)
	}
	if got := snapshotSeqs(t, s, "ns", "k"); fmt.Sprint(got) != "[20]" {
		t.Errorf("snapshots after compaction: %v, want [20]", got)
	}
	checkLatest(t, s, "ns", "k", map[uint64]uint64{5: 0, 19: 0, 20: 20, 21: 20})
	// The events from the snapshot on replay it to the head.
	var replay []uint64
	if err := s.EachEvent(ctx, "ns", "k", 14, 20, func(e *Event) error { replay = append(replay, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(replay) != "[15 16 17 18 19 20]" {
		t.Errorf("EachEvent after compaction: %v", replay)
	}
	checkUsage(t, s, "ns", sum)

	// Compacted down to nothing: the head is the snapshot's seq.
	write(snapshotWrite("ns", "k", 21, 22, 0, 23))
	if evs := allEvents(t, s, "ns", "k"); len(evs) != 0 {
		t.Errorf("log after CompactBelow past the head: %+v", evs)
	}
	if first, err := s.FirstSeq(ctx, "ns", "k"); err != nil || first != 0 {
		t.Errorf("FirstSeq of an empty log: %d (%v), want 0", first, err)
	}
	s.Close()
	s = openStore(t, path, SQLiteOptions{})
	if m, err := s.State(ctx, "ns", "k"); err != nil || m.Seq != 22 {
		t.Errorf("state of a log compacted to nothing: %+v (%v), want seq 22", m, err)
	}
	checkLatest(t, s, "ns", "k", map[uint64]uint64{21: 0, 22: 22})
	checkUsage(t, s, "ns", sum)
}

// Delete removes the key's row, log, snapshots, dedup cursors and stored
// refusals, and takes their bytes off the namespace's usage; other keys,
// and the same key in another namespace, are untouched; the key can then
// be created anew.
func TestDeleteKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	sums := map[string]int64{}
	write := func(w *Write) {
		t.Helper()
		mustWrite(t, s, w)
		sums[w.Namespace] += w.UsageDelta
	}
	fill := func(ns, key string) {
		createKey(t, s, ns, key)
		write(snapshotWrite(ns, key, 1, 4, 0, 0))
		write(snapshotWrite(ns, key, 5, 8, 0, 0))
		write(&Write{Namespace: ns, Key: key, Events: []Event{ev(9, "c", 9)}, Mids: map[string]uint64{"c": 10, "d": 3},
			Rejections: []Rejection{{Client: "c", Mid: 10, Name: "Add", Code: "invalid", Message: "no"}}})
	}
	fill("ns", "gone")
	fill("ns", "kept")
	fill("ns2", "gone")
	keyBytes := func(ns, key string) int64 {
		var evb, snb int64
		if err := s.r.Get(&evb, sqlEventBytesBelow, ns, key, 1<<62); err != nil {
			t.Fatal(err)
		}
		if err := s.r.Get(&snb, sqlSnapBytesBelow, ns, key, 1<<62); err != nil {
			t.Fatal(err)
		}
		return evb + snb
	}
	goneBytes := keyBytes("ns", "gone")
	before, err := s.Usage(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}

	del := &Write{Namespace: "ns", Key: "gone", Delete: true}
	write(del)
	if del.UsageDelta != -goneBytes || goneBytes == 0 {
		t.Errorf("Delete's UsageDelta %d, the key stored %d bytes", del.UsageDelta, goneBytes)
	}

	checkGone := func(s *SQLite) {
		t.Helper()
		if _, err := s.State(ctx, "ns", "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("State of a deleted key: %v", err)
		}
		if evs := allEvents(t, s, "ns", "gone"); len(evs) != 0 {
			t.Errorf("events of a deleted key: %+v", evs)
		}
		if first, err := s.FirstSeq(ctx, "ns", "gone"); err != nil || first != 0 {
			t.Errorf("FirstSeq of a deleted key: %d (%v)", first, err)
		}
		if _, err := s.LatestSnapshot(ctx, "ns", "gone", 1<<40); !errors.Is(err, ErrNotFound) {
			t.Errorf("LatestSnapshot of a deleted key: %v", err)
		}
		if _, err := s.FindEvent(ctx, "ns", "gone", "c", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("FindEvent of a deleted key: %v", err)
		}
		if mid, err := s.ClientMid(ctx, "ns", "gone", "c"); err != nil || mid != 0 {
			t.Errorf("ClientMid of a deleted key: %d (%v)", mid, err)
		}
		if rj, err := s.Rejections(ctx, "ns", "gone", "c", 0); err != nil || len(rj) != 0 {
			t.Errorf("Rejections of a deleted key: %+v (%v)", rj, err)
		}
		for _, table := range []string{"states", "events", "snapshots", "client_mids", "rejections"} {
			var n int
			if err := s.r.Get(&n, `SELECT COUNT(*) FROM `+table+` WHERE namespace = 'ns' AND key = 'gone'`); err != nil || n != 0 {
				t.Errorf("%d rows of the deleted key left in %s (%v)", n, table, err)
			}
		}
		// The rest is as it was.
		for _, id := range [][2]string{{"ns", "kept"}, {"ns2", "gone"}} {
			ns, key := id[0], id[1]
			if m, err := s.State(ctx, ns, key); err != nil || m.Seq != 9 {
				t.Errorf("%s/%s: %+v (%v)", ns, key, m, err)
			}
			if evs := allEvents(t, s, ns, key); len(evs) != 9 {
				t.Errorf("%s/%s has %d events, want 9", ns, key, len(evs))
			}
			if got := snapshotSeqs(t, s, ns, key); fmt.Sprint(got) != "[4 8]" {
				t.Errorf("%s/%s's snapshots: %v", ns, key, got)
			}
			if mid, _ := s.ClientMid(ctx, ns, key, "d"); mid != 3 {
				t.Errorf("%s/%s: client d's mid %d, want 3", ns, key, mid)
			}
			if rj, _ := s.Rejections(ctx, ns, key, "c", 0); len(rj) != 1 {
				t.Errorf("%s/%s: rejections %+v", ns, key, rj)
			}
		}
		u, err := s.Usage(ctx, "ns")
		if err != nil || u.Keys != before.Keys-1 || u.Bytes != before.Bytes-goneBytes {
			t.Errorf("usage after delete %+v (%v), before %+v, the key stored %d bytes", u, err, before, goneBytes)
		}
		checkUsage(t, s, "ns", sums["ns"])
		checkUsage(t, s, "ns2", sums["ns2"])
	}
	checkGone(s)
	s.Close()
	s = openStore(t, path, SQLiteOptions{})
	checkGone(s)

	// Created anew, the key starts from an empty log: seq 1 is free again.
	mustWrite(t, s, &Write{Namespace: "ns", Key: "gone", Create: &StateMeta{Type: "t2", Fingerprint: "f2", Epoch: "e2"}})
	write(&Write{Namespace: "ns", Key: "gone", Events: []Event{ev(1, "c", 1)}, Mids: map[string]uint64{"c": 1}})
	if m, err := s.State(ctx, "ns", "gone"); err != nil || m.Seq != 1 || m.Type != "t2" || m.Epoch != "e2" {
		t.Errorf("re-created key: %+v (%v)", m, err)
	}
	if mid, _ := s.ClientMid(ctx, "ns", "gone", "c"); mid != 1 {
		t.Errorf("re-created key: client c's mid %d, want 1", mid)
	}
	checkUsage(t, s, "ns", sums["ns"])
}

// summing returns a write function that also adds up the usage deltas. It
// writes to *s, which the test replaces when it reopens the file.
func summing(t *testing.T, s **SQLite, sum *int64) func(*Write) {
	return func(w *Write) {
		t.Helper()
		mustWrite(t, *s, w)
		*sum += w.UsageDelta
	}
}

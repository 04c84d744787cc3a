package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/pgtest"
)

func openPG(t *testing.T, url string) *Postgres {
	t.Helper()
	s, err := OpenPostgres(url, PostgresOptions{CheckEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pev(seq uint64, client string, mid uint64) Event {
	return Event{Seq: seq, Client: client, Mid: mid, Name: "Add", Args: []byte(fmt.Sprintf(`{"n":%d}`, seq)), Time: int64(seq), Actor: "a"}
}

type heard struct {
	mu sync.Mutex
	hs []string
}

func (h *heard) fn(ns, key string, head Head) {
	h.mu.Lock()
	h.hs = append(h.hs, fmt.Sprintf("%s/%s@%d", ns, key, head.Seq))
	h.mu.Unlock()
}

func (h *heard) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		for i, s := range h.hs {
			if s == want {
				h.hs = h.hs[i+1:]
				h.mu.Unlock()
				return
			}
		}
		got := fmt.Sprint(h.hs)
		h.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("did not hear %s; heard %s", want, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostgresTwoServers: two stores on one database, as two servers
// would have. Appends are ordered by the key's head: a Write made on a
// head that moved is refused whole with ErrConflict, and the dedup cursor
// moves with its event. The other store hears each write.
func TestPostgresTwoServers(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDB(t)
	a, b := openPG(t, url), openPG(t, url)
	var hb heard
	b.Watch(hb.fn)
	hb.wait(t, "/@0") // "anything may have moved": the listener is on
	ctx := context.Background()
	meta := &StateMeta{Type: "t", Fingerprint: "f", Epoch: "e"}

	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Create: meta}); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, &Write{Namespace: "ns", Key: "k", Create: meta}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second create: %v, want ErrConflict", err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 0, Events: []Event{pev(1, "c", 1), pev(2, "c", 2), pev(3, "d", 1)}, Mids: map[string]uint64{"c": 2, "d": 1}}); err != nil {
		t.Fatal(err)
	}
	hb.wait(t, "ns/k@3")
	// b did not hear of it in time and appends on head 0: refused, and
	// nothing of it is kept (its cursor move of c included).
	if err := b.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 0, Events: []Event{pev(1, "c", 3)}, Mids: map[string]uint64{"c": 3}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("append on a stale head: %v, want ErrConflict", err)
	}
	// A refusal made on a stale head is refused too.
	if err := b.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 2, Mids: map[string]uint64{"c": 3}, Rejections: []Rejection{{Client: "c", Mid: 3, Name: "Add", Code: "x", Message: "m"}}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("refusal on a stale head: %v, want ErrConflict", err)
	}
	if mid, _ := a.ClientMid(ctx, "ns", "k", "c"); mid != 2 {
		t.Fatalf("c's cursor %d after refused writes, want 2", mid)
	}
	if err := b.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 3, Events: []Event{pev(4, "c", 3)}, Mids: map[string]uint64{"c": 3}}); err != nil {
		t.Fatal(err)
	}
	m, err := a.State(ctx, "ns", "k")
	if err != nil || m.Seq != 4 || m.Epoch != "e" {
		t.Fatalf("state %+v %v", m, err)
	}
	var seqs []uint64
	if err := a.EachEvent(ctx, "ns", "k", 0, 100, func(e *Event) error { seqs = append(seqs, e.Seq); return nil }); err != nil || fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Fatalf("events %v %v", seqs, err)
	}
	if e, err := a.FindEvent(ctx, "ns", "k", "c", 3); err != nil || e.Seq != 4 || string(e.Args) != `{"n":4}` {
		t.Fatalf("find %+v %v", e, err)
	}

	// A refusal elsewhere moved c's cursor to 5 without moving the head;
	// a Write processing mids 5 and 6 of c is a conflict (its first mid,
	// not its last, is checked).
	if err := b.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 4, Mids: map[string]uint64{"c": 5}, Rejections: []Rejection{{Client: "c", Mid: 5, Name: "Add", Code: "x", Message: "m"}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 4, Events: []Event{pev(5, "c", 5), pev(6, "c", 6)}, Mids: map[string]uint64{"c": 6}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("processing a mid refused elsewhere: %v, want ErrConflict", err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 4, Events: []Event{pev(5, "c", 6)}, Mids: map[string]uint64{"c": 6}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 5, Events: []Event{pev(6, "c", 7)}, Mids: map[string]uint64{"c": 7}}); err != nil {
		t.Fatal(err)
	}
	// A Write made on another epoch of the key is a conflict, even at
	// the right seq.
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "old", Base: 6, Events: []Event{pev(7, "z", 1)}, Mids: map[string]uint64{"z": 1}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a Write of another epoch: %v, want ErrConflict", err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Delete: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Create: meta}); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 4; seq++ {
		if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: seq - 1, Events: []Event{pev(seq, map[uint64]string{1: "c", 2: "c", 3: "d", 4: "c"}[seq], map[uint64]uint64{1: 1, 2: 2, 3: 1, 4: 3}[seq])}, Mids: map[string]uint64{map[uint64]string{1: "c", 2: "c", 3: "d", 4: "c"}[seq]: map[uint64]uint64{1: 1, 2: 2, 3: 1, 4: 3}[seq]}}); err != nil {
			t.Fatal(err)
		}
	}

	// In one batch, a Write that conflicts fails alone.
	r1 := &writeReq{w: &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 1, Events: []Event{pev(2, "x", 1)}}}
	r2 := &writeReq{w: &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 4, Events: []Event{pev(5, "y", 1)}, Mids: map[string]uint64{"y": 1}}}
	if err := a.commit([]*writeReq{r1, r2}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r1.failed, ErrConflict) || r2.failed != nil {
		t.Fatalf("batch: %v, %v", r1.failed, r2.failed)
	}
	if h, err := b.Heads(ctx, "ns", []string{"k", "nope"}); err != nil || len(h) != 1 || h["k"] != (Head{Epoch: "e", Seq: 5}) {
		t.Fatalf("heads %v %v", h, err)
	}

	// Snapshots, compaction and usage, as on SQLite.
	u0, _ := a.Usage(ctx, "ns")
	var want int64
	for seq := uint64(1); seq <= 5; seq++ {
		e, _ := a.FindEvent(ctx, "ns", "k", map[uint64]string{1: "c", 2: "c", 3: "d", 4: "c", 5: "y"}[seq], map[uint64]uint64{1: 1, 2: 2, 3: 1, 4: 3, 5: 1}[seq])
		want += EventBytes(&e)
	}
	if u0.Bytes != want || u0.Keys != 1 {
		t.Fatalf("usage %+v, want %d bytes", u0, want)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Epoch: "e", Base: 5, Events: []Event{pev(6, "c", 4)}, Snapshot: &Snapshot{Seq: 6, State: []byte(`{"s":6}`)}, CompactBelow: 4, KeepSnapshots: 2}); err != nil {
		t.Fatal(err)
	}
	if first, _ := a.FirstSeq(ctx, "ns", "k"); first != 4 {
		t.Fatalf("first seq %d after compaction, want 4", first)
	}
	if snap, err := a.FirstSnapshot(ctx, "ns", "k", 3); err != nil || snap.Seq != 6 {
		t.Fatalf("first snapshot %+v %v", snap, err)
	}
	if snap, err := a.LatestSnapshot(ctx, "ns", "k", 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest snapshot below 6: %+v %v", snap, err)
	}
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "k", Delete: true}); err != nil {
		t.Fatal(err)
	}
	hb.wait(t, "ns/k@0")
	if u, _ := a.Usage(ctx, "ns"); u.Bytes != 0 || u.Keys != 0 {
		t.Fatalf("usage after delete %+v", u)
	}

	// Keys, clients, namespaces.
	if err := a.CreateKey(ctx, APIKey{ID: "k1", Namespace: "ns2", Hash: []byte{1, 2}, Actor: "ann", Role: "client", CreatedAt: 1, Grants: "x:r"}); err != nil {
		t.Fatal(err)
	}
	if k, err := b.Key(ctx, "k1"); err != nil || k.Actor != "ann" || k.Grants != "x:r" || string(k.Hash) != "\x01\x02" {
		t.Fatalf("key %+v %v", k, err)
	}
	if err := b.RevokeKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := b.RevokeKey(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revoke %v", err)
	}
	if owner, _ := a.ClaimClient(ctx, "ns", "cl", "ann"); owner != "ann" {
		t.Fatal(owner)
	}
	if owner, _ := b.ClaimClient(ctx, "ns", "cl", "bob"); owner != "ann" {
		t.Fatalf("a claimed client id went to %s", owner)
	}
	for _, k := range []string{"b-2", "a-1", "b-1", "c"} {
		if err := a.Write(ctx, &Write{Namespace: "ns", Key: k, Create: meta}); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := b.States(ctx, "ns", "b-", "b-1", 10); err != nil || len(st) != 1 || st[0].Key != "b-2" {
		t.Fatalf("states %+v %v", st, err)
	}
	if nss, _ := b.Namespaces(ctx); fmt.Sprint(nss) != "[ns ns2]" {
		t.Fatalf("namespaces %v", nss)
	}

	// PostgreSQL stops: Writes fail (not as conflicts); it comes back:
	// they succeed again, and the listener says anything may have moved.
	pg.Stop()
	if err := a.Write(ctx, &Write{Namespace: "ns", Key: "c", Epoch: "e", Base: 0, Events: []Event{pev(1, "c", 1)}}); err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("write with PostgreSQL down: %v", err)
	}
	pg.StartAgain()
	hb.wait(t, "/@0")
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := a.Write(ctx, &Write{Namespace: "ns", Key: "c", Epoch: "e", Base: 0, Events: []Event{pev(1, "c", 1)}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write after PostgreSQL came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hb.wait(t, "ns/c@1")
}

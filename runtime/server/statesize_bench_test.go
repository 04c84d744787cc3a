package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/simhook"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/schema"
)

// BenchmarkMutationStateSize is the cost of one mutation on a key by the
// size of its state: the server clones the state, applies the action,
// canonicalizes the args and encodes the new state (to check it and to
// size it) before it logs the event. Every part but the action grows with
// the state. The server runs in synchronous mode (internal/simhook) behind an in-process
// connection, on a real SQLite file with synchronous=NORMAL, so that the
// figure is the per-mutation work and not the fsync.
func BenchmarkMutationStateSize(b *testing.B) {
	for _, kib := range []int{1, 64, 1024, 4096} {
		b.Run(fmt.Sprintf("state=%dKiB", kib), func(b *testing.B) {
			srv, err := server.New(simhook.Synchronous(server.Config{
				DBPath: filepath.Join(b.TempDir(), "s.db"), Sync: "normal",
				Registry: contract.NewRegistry(todos.ListType), DevKey: "k",
				Limits: server.Limits{MutationsPerSecond: 1e9, MutationBurst: 1e9, KeyMutationsPerSec: 1e9, ActorMutationsPerSec: 1e9, NamespaceEventsPerSec: 1e9, NamespaceBytesPerSec: 1e12},
			}, nil).(server.Config))
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			l, err := simhook.Local(context.Background(), srv, "k")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			l.Send(protocol.Encode(&protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "bench"}))
			l.Send(protocol.Encode(&protocol.Msg{T: protocol.TSub, Key: "k", Type: todos.ListType.Name, FP: todos.ListType.Fingerprint}))
			l.Receive()
			// The state: items of 1 KiB (64 KiB for the large ones, so
			// that filling it stays quick).
			item := 1 << 10
			if kib >= 1024 {
				item = 64 << 10
			}
			title := strings.Repeat("t", item)
			mid := uint64(0)
			mut := func(name, args string) {
				mid++
				l.Send(protocol.Encode(&protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: name, Args: []byte(args)}))
				f, _ := l.Receive()
				if !strings.Contains(string(f), `"t":"ev"`) {
					b.Fatalf("%s: %s", name, f)
				}
			}
			for n := 0; n < kib<<10; n += item {
				mut("Add", `{"title":"`+title+`"}`)
			}
			// The first item's id, as the server made it.
			id := schema.NewContext(schema.Meta{Key: "k", Client: "bench", Mid: 1}).NewID()
			toggle := `{"id":"` + id + `"}`
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// A small change to a large state: what a todo app does.
				mut("Toggle", toggle)
			}
		})
	}
}

package counter_test

import (
	"context"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// TestTwoClientsConverge runs a real server (SQLite file, loopback
// WebSocket) and two clients that change the same counter.
func TestTwoClientsConverge(t *testing.T) {
	srv := servertest.Start(t, servertest.Register(counter.Register))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stores []*client.Typed[counter.Counter]
	var clients []*client.Client
	for i := 0; i < 2; i++ {
		c, err := client.New(srv.URL, client.Options{APIKey: srv.Key, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := client.Open[counter.Counter](c, counter.CounterType, "c")
		if err != nil {
			t.Fatal(err)
		}
		clients, stores = append(clients, c), append(stores, s)
	}
	if err := stores[0].Mutate(counter.CounterAddArgs{N: 2}); err != nil {
		t.Fatal(err)
	}
	if err := stores[1].Mutate(counter.CounterAddArgs{N: 3}); err != nil {
		t.Fatal(err)
	}
	if err := stores[1].Mutate(counter.CounterAddArgs{N: 0}); err == nil {
		t.Fatal("adding zero was accepted")
	}
	for _, c := range clients {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range stores {
		for s.Get().N != 5 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if got := s.Get(); got.N != 5 || got.Changes != 2 {
			t.Fatalf("client %d sees %+v, want n=5 after 2 changes", i, got)
		}
	}
}

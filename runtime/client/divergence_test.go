package client_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

type counter struct {
	N int `json:"n"`
}

// counterType is a hand-made descriptor whose Inc adds step. A server and a
// client built with different steps are two replicas of a nondeterministic
// action: same name, same fingerprint, different results.
func counterType(step int) *contract.Type {
	return &contract.Type{
		Name:        "test.Counter",
		Fingerprint: "counter-fp",
		Actions:     []string{"Inc"},
		New:         func() any { return new(counter) },
		Clone:       func(s any) any { c := *s.(*counter); return &c },
		Dispatch: func(s any, ctx schema.Ctx, action string, args []byte) error {
			s.(*counter).N += step
			return nil
		},
	}
}

// TestDivergenceIsDetectedAndHealed: the server hashes its state after every
// event; the client's own replay of the event hashes differently, so it
// reports the divergence and resyncs from a snapshot, after which its state
// is the server's.
func TestDivergenceIsDetectedAndHealed(t *testing.T) {
	srv := servertest.Start(t,
		servertest.Register(func(r *contract.Registry) { r.Add(counterType(1)) }),
		servertest.Config(func(c *server.Config) { c.HashEvery = 1 }))
	var diverged atomic.Int32
	c, err := client.New(srv.URL, client.Options{
		APIKey:       servertest.DevKey,
		OnDivergence: func(key string, seq uint64) { diverged.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Open(counterType(2), "c")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := st.Mutate("Inc", struct{}{}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	want, seq := serverState(t, srv, "c")
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, gotSeq := st.Confirmed()
		b, _ := json.Marshal(got)
		if string(b) == string(want) && gotSeq == seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healed: client %s at %d, server %s at %d", b, gotSeq, want, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if diverged.Load() == 0 {
		t.Fatal("divergence was not reported")
	}
	if string(want) != `{"n":3}` {
		t.Fatalf("server state %s", want)
	}
}

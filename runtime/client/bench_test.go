package client_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/runtime/client"
)

// offlineClient returns a client whose server never answers (a closed
// loopback port), so that only local work is measured.
func offlineClient(b *testing.B, dir string) *client.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := client.New("ws://"+addr+"/v1/ws", client.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func setupPoll(b *testing.B, c *client.Client) *client.Typed[polls.Poll] {
	p, err := client.Open[polls.Poll](c, polls.PollType, "p")
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Mutate(polls.PollSetupArgs{Question: "lunch?", Options: []string{"pizza", "soup", "salad"}}); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkLocalAction is what an action method costs the app: apply to the
// view (clone + dispatch) and, with a Dir, the durable enqueue (an SQLite
// commit with synchronous=FULL).
func BenchmarkLocalAction(b *testing.B) {
	for _, mode := range []string{"durable", "memory"} {
		b.Run(mode, func(b *testing.B) {
			dir := ""
			if mode == "durable" {
				dir = b.TempDir()
			}
			p := setupPoll(b, offlineClient(b, dir))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.Mutate(polls.PollVoteArgs{Option: int64(i % 3)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRebase is the cost of recomputing the view after a foreign
// event: copy the confirmed state and replay every pending mutation.
// BenchmarkRebase rebuilds the view from the confirmed state and the
// pending mutations, as a foreign event makes the client do. The first
// pending mutation is the poll's Setup, so every case replays onto the
// same kind of state; the cost per pending mutation is the slope.
func BenchmarkRebase(b *testing.B) {
	for _, pending := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			p := setupPoll(b, offlineClient(b, ""))
			for i := 1; i < pending; i++ {
				p.Mutate(polls.PollVoteArgs{Option: int64(i % 3)})
			}
			if n := p.Store().Pending(); n != pending {
				b.Fatalf("%d pending, want %d", n, pending)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Store().Rebase()
			}
		})
	}
}

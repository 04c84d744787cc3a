package client_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// TestTokenSourceRefreshesOnTheLiveConnection: a client whose tokens live
// two seconds (plus the server's 2 s leeway) writes for more than twice
// that long on one connection: it sends fresh tokens before they expire,
// and nothing is lost.
func TestTokenSourceRefreshesOnTheLiveConnection(t *testing.T) {
	secret := []byte("a-test-secret-of-more-than-32-bytes-for-hs256")
	s := servertest.Start(t, servertest.Register(todos.Register), servertest.Config(func(c *server.Config) {
		c.Tokens = &server.TokenKeys{Secret: secret}
	}))
	var minted, online atomic.Int32
	c := dial(t, s.URL, t.TempDir(), func(o *client.Options) {
		o.APIKey = ""
		o.TokenSource = func(ctx context.Context) (string, error) {
			minted.Add(1)
			return server.MintToken(secret, "default", "ann", []string{"list-{actor}-*:rw"}, 2*time.Second)
		}
		o.OnStatus = func(up bool) {
			if up {
				online.Add(1)
			}
		}
	})
	l := open(t, c, "list-ann-1")
	n := 0
	for end := time.Now().Add(9 * time.Second); time.Now().Before(end); n++ {
		if err := l.Mutate(todos.ListAddArgs{Title: fmt.Sprint("t", n)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitSynced(t, c)
	if got := len(l.Get().Items); got != n {
		t.Fatalf("%d items, %d added", got, n)
	}
	if online.Load() != 1 {
		t.Fatalf("online %d times: the connection did not outlive its tokens", online.Load())
	}
	if minted.Load() < 4 {
		t.Fatalf("only %d tokens minted in 9 s of 2 s tokens", minted.Load())
	}
	// A key the token does not reach is refused, and WaitSynced says so.
	other := open(t, c, "list-bob-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err == nil || other.Store().Err() == nil {
		t.Fatalf("WaitSynced %v, store error %v", err, other.Store().Err())
	}
}

// TestTokenSourceIsNotSpun: a source that returns the same token each time
// (a cache) is asked at most once a second, and one failure does not stop
// the refreshing.
func TestTokenSourceIsNotSpun(t *testing.T) {
	secret := []byte("a-test-secret-of-more-than-32-bytes-for-hs256")
	s := servertest.Start(t, servertest.Register(todos.Register), servertest.Config(func(c *server.Config) {
		c.Tokens = &server.TokenKeys{Secret: secret}
	}))
	cached, err := server.MintToken(secret, "default", "ann", []string{"list-{actor}-*:rw"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	c := dial(t, s.URL, "", func(o *client.Options) {
		o.APIKey = ""
		o.TokenSource = func(ctx context.Context) (string, error) {
			n := calls.Add(1)
			if n == 2 {
				return "", fmt.Errorf("the backend is down once")
			}
			if n < 4 {
				return cached, nil
			}
			return server.MintToken(secret, "default", "ann", []string{"list-{actor}-*:rw"}, time.Hour)
		}
	})
	open(t, c, "list-ann-1")
	waitSynced(t, c)
	time.Sleep(6 * time.Second)
	if n := calls.Load(); n > 9 {
		t.Fatalf("TokenSource called %d times in 6 s", n)
	}
	if n := calls.Load(); n < 4 {
		t.Fatalf("TokenSource called %d times: refreshing stopped after a failure", n)
	}
	if st := c.Status(); !st.Online {
		t.Fatal("the connection did not outlive its cached token")
	}
}

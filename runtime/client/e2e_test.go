package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// link is a real TCP forwarder on loopback between one client and the
// server: cutting it takes that client offline and nobody else.
type link struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newLink(t *testing.T, target string) *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, target: target, up: true}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(func() {
		ln.Close()
		l.cut()
		l.wg.Wait()
	})
	return l
}

func (l *link) url() string { return "ws://" + l.ln.Addr().String() + "/v1/ws" }

func (l *link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if !l.up {
			l.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", l.target)
		if err != nil {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns = append(l.conns, c, s)
		l.wg.Add(2)
		l.mu.Unlock()
		go func() { defer l.wg.Done(); io.Copy(s, c); s.Close() }()
		go func() { defer l.wg.Done(); io.Copy(c, s); c.Close() }()
	}
}

func (l *link) cut() {
	l.mu.Lock()
	l.up = false
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
}

func (l *link) restore() {
	l.mu.Lock()
	l.up = true
	l.mu.Unlock()
}

func start(t *testing.T) *servertest.Server {
	return servertest.Start(t, servertest.Register(todos.Register))
}

func dial(t *testing.T, url, dir string, opts ...func(*client.Options)) *client.Client {
	t.Helper()
	o := client.Options{APIKey: servertest.DevKey, Dir: dir, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	c, err := client.New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func open(t *testing.T, c *client.Client, key string) *client.Typed[todos.List] {
	t.Helper()
	s, err := client.Open[todos.List](c, todos.ListType, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitSynced(t *testing.T, cs ...*client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatalf("WaitSynced: %v (status %+v)", err, c.Status())
		}
	}
}

// waitOffline waits until c has noticed that its connection is gone.
func waitOffline(t *testing.T, c *client.Client) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.Status().Online; {
		if time.Now().After(deadline) {
			t.Fatal("the client did not notice the cut")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serverState returns the server's state JSON and seq for key.
func serverState(t *testing.T, s *servertest.Server, key string) ([]byte, uint64) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.HTTPURL+"/v1/namespaces/default/states/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+s.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Seq   uint64          `json:"seq"`
		State json.RawMessage `json:"state"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", key, resp.StatusCode, b)
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.State, out.Seq
}

func viewJSON(t *testing.T, s *client.Typed[todos.List]) []byte {
	v := s.Get()
	b, err := json.Marshal(&v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireConverged waits for quiescence (every store at the server's seq,
// nothing pending) and then requires every view to equal the server's
// state, byte for byte.
func requireConverged(t *testing.T, srv *servertest.Server, key string, stores ...*client.Typed[todos.List]) {
	t.Helper()
	want, seq := serverState(t, srv, key)
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range stores {
		for (s.Store().Seq() != seq || s.Store().Pending() > 0) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i, s := range stores {
		if got := viewJSON(t, s); string(got) != string(want) {
			t.Fatalf("store %d of %s at seq %d (server %d):\n got %s\nwant %s", i, key, s.Store().Seq(), seq, got, want)
		}
	}
}

func TestTwoClientsConverge(t *testing.T) {
	srv := start(t)
	a := dial(t, srv.URL, t.TempDir())
	b := dial(t, srv.URL, "")
	la, lb := open(t, a, "list"), open(t, b, "list")
	var seen atomic.Int32
	cancel := lb.Subscribe(func(l todos.List) { seen.Store(int32(len(l.Items))) })
	defer cancel()
	if err := la.Mutate(todos.ListAddArgs{Title: "milk"}); err != nil {
		t.Fatal(err)
	}
	if got := la.Get(); len(got.Items) != 1 {
		t.Fatalf("not applied at once: %+v", got)
	}
	if err := lb.Mutate(todos.ListAddArgs{Title: "eggs"}); err != nil {
		t.Fatal(err)
	}
	if err := la.Mutate(todos.ListAddArgs{Title: ""}); err == nil || !strings.Contains(err.Error(), "empty_title") {
		t.Fatalf("local rejection: %v", err)
	}
	waitSynced(t, a, b)
	requireConverged(t, srv, "list", la, lb)
	deadline := time.Now().Add(5 * time.Second)
	for seen.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if seen.Load() != 2 {
		t.Fatalf("subscriber saw %d items", seen.Load())
	}
	if _, seq := serverState(t, srv, "list"); seq != 2 {
		t.Fatalf("seq %d, want 2 (the local rejection must not be sent)", seq)
	}
}

// TestOfflineHundredMutationsDeliveredOnce: a client offline for 100
// mutations, restarted from its Dir, delivers every one exactly once.
func TestOfflineHundredMutationsDeliveredOnce(t *testing.T) {
	srv := start(t)
	dir := t.TempDir()
	// Learn the key first, then go offline.
	c1 := dial(t, srv.URL, dir)
	l1 := open(t, c1, "list")
	l1.Mutate(todos.ListAddArgs{Title: "first"})
	waitSynced(t, c1)
	srv.Stop()
	for i := 1; i <= 100; i++ {
		if err := l1.Mutate(todos.ListAddArgs{Title: fmt.Sprint("offline ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := c1.Status(); st.Online || st.Pending["list"] != 100 {
		t.Fatalf("status %+v", st)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process: same Dir, the queue and the view come back offline.
	c2 := dial(t, srv.URL, dir)
	l2 := open(t, c2, "list")
	if v := l2.Get(); len(v.Items) != 101 {
		t.Fatalf("offline view after restart has %d items, want 101", len(v.Items))
	}
	srv.Resume()
	waitSynced(t, c2)
	state, seq := serverState(t, srv, "list")
	var list todos.List
	json.Unmarshal(state, &list)
	if seq != 101 || len(list.Items) != 101 {
		t.Fatalf("server has seq %d with %d items, want 101", seq, len(list.Items))
	}
	for i, it := range list.Items[1:] {
		if it.Title != fmt.Sprint("offline ", i+1) {
			t.Fatalf("item %d is %q: order broken", i+1, it.Title)
		}
	}
	requireConverged(t, srv, "list", l2)
	// Restarting once more sends nothing again.
	c2.Close()
	c3 := dial(t, srv.URL, dir)
	l3 := open(t, c3, "list")
	waitSynced(t, c3)
	if _, seq := serverState(t, srv, "list"); seq != 101 {
		t.Fatalf("seq %d after a second restart", seq)
	}
	requireConverged(t, srv, "list", l3)
}

// TestReconnectBurstDuringBroadcasts is the original failure: a client goes
// offline, queues, reconnects quickly and sends a burst while broadcasts
// from others are arriving. Run over many seeds.
func TestReconnectBurstDuringBroadcasts(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 3
	}
	srv := start(t)
	for seed := 0; seed < seeds; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		key := fmt.Sprint("burst-", seed)
		lk := newLink(t, srv.Addr)
		a := dial(t, lk.url(), t.TempDir())
		b := dial(t, srv.URL, "")
		la, lb := open(t, a, key), open(t, b, key)
		la.Mutate(todos.ListAddArgs{Title: "seed"})
		waitSynced(t, a, b)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		rb := rand.New(rand.NewPCG(uint64(seed), 8))
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				lb.Mutate(todos.ListAddArgs{Title: fmt.Sprint("b", i)})
				time.Sleep(time.Duration(rb.IntN(3)) * time.Millisecond)
			}
		}()
		lk.cut()
		n := 5 + r.IntN(30)
		for i := 0; i < n; i++ {
			la.Mutate(todos.ListAddArgs{Title: fmt.Sprint("a", i)})
		}
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		lk.restore()
		for i := 0; i < n; i++ { // the burst, while b's broadcasts arrive
			la.Mutate(todos.ListAddArgs{Title: fmt.Sprint("a-burst", i)})
		}
		time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
		close(stop)
		wg.Wait()
		waitSynced(t, a, b)
		requireConverged(t, srv, key, la, lb)
		state, _ := serverState(t, srv, key)
		for i := 0; i < n; i++ {
			for _, title := range []string{fmt.Sprint(`"a`, i, `"`), fmt.Sprint(`"a-burst`, i, `"`)} {
				if c := strings.Count(string(state), title); c != 1 {
					t.Fatalf("seed %d: %s appears %d times", seed, title, c)
				}
			}
		}
		a.Close()
		b.Close()
	}
}

// TestServerRejectionReportedOnceNoTrace: b toggles an item that a removed
// while b was offline. The server refuses; b hears it once; no view keeps it.
func TestServerRejectionReportedOnceNoTrace(t *testing.T) {
	srv := start(t)
	lk := newLink(t, srv.Addr)
	a := dial(t, srv.URL, "")
	var rejs []client.Rejection
	var mu sync.Mutex
	b := dial(t, lk.url(), t.TempDir(), func(o *client.Options) {
		o.OnReject = func(r client.Rejection) { mu.Lock(); rejs = append(rejs, r); mu.Unlock() }
	})
	la, lb := open(t, a, "k"), open(t, b, "k")
	la.Mutate(todos.ListAddArgs{Title: "x"})
	waitSynced(t, a, b)
	requireConverged(t, srv, "k", la, lb)
	id := lb.Get().Items[0].ID
	lk.cut()
	if err := lb.Mutate(todos.ListToggleArgs{ID: id}); err != nil {
		t.Fatal(err)
	}
	if !lb.Get().Items[0].Done {
		t.Fatal("toggle not applied locally")
	}
	if err := la.Mutate(todos.ListRemoveArgs{ID: id}); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a)
	lk.restore()
	waitSynced(t, b)
	mu.Lock()
	got := append([]client.Rejection(nil), rejs...)
	mu.Unlock()
	if len(got) != 1 || got[0].Code != "no_such_item" || got[0].Action != "Toggle" || got[0].Key != "k" {
		t.Fatalf("rejections %+v", got)
	}
	requireConverged(t, srv, "k", la, lb)
	if n := len(lb.Get().Items); n != 0 {
		t.Fatalf("b's view still has %d items", n)
	}
	// Reconnecting again does not report it twice. The client must have
	// seen the cut first, or WaitSynced would answer for the old
	// connection; a stored refusal would come before the new synced.
	lk.cut()
	waitOffline(t, b)
	lk.restore()
	waitSynced(t, b)
	mu.Lock()
	defer mu.Unlock()
	if len(rejs) != 1 {
		t.Fatalf("reported %d times", len(rejs))
	}
}

// TestRandomInterleavingsConverge: several clients on several keys, random
// actions, random disconnects; after quiescence every view equals the
// server's state, byte for byte.
func TestRandomInterleavingsConverge(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	srv := start(t)
	for seed := 0; seed < seeds; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 99))
		keys := []string{fmt.Sprint("r", seed, "-a"), fmt.Sprint("r", seed, "-b"), fmt.Sprint("r", seed, "-c")}
		type cl struct {
			c      *client.Client
			lk     *link
			stores []*client.Typed[todos.List]
		}
		var cls []*cl
		for i := 0; i < 3; i++ {
			lk := newLink(t, srv.Addr)
			c := dial(t, lk.url(), t.TempDir())
			x := &cl{c: c, lk: lk}
			for _, k := range keys {
				x.stores = append(x.stores, open(t, c, k))
			}
			cls = append(cls, x)
		}
		for step := 0; step < 150; step++ {
			x := cls[r.IntN(len(cls))]
			s := x.stores[r.IntN(len(keys))]
			items := s.Get().Items
			switch op := r.IntN(10); {
			case op < 4 || len(items) == 0:
				s.Mutate(todos.ListAddArgs{Title: fmt.Sprint("t", step)})
			case op < 6:
				s.Mutate(todos.ListToggleArgs{ID: items[r.IntN(len(items))].ID})
			case op < 7:
				s.Mutate(todos.ListRenameArgs{ID: items[r.IntN(len(items))].ID, Title: fmt.Sprint("r", step)})
			case op < 8:
				s.Mutate(todos.ListRemoveArgs{ID: items[r.IntN(len(items))].ID})
			case op < 9:
				s.Mutate(todos.ListClearDoneArgs{})
			default:
				x.lk.cut()
				time.AfterFunc(time.Duration(r.IntN(30))*time.Millisecond, x.lk.restore)
			}
			if r.IntN(5) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(40 * time.Millisecond)
		for _, x := range cls {
			x.lk.restore()
		}
		for _, x := range cls {
			waitSynced(t, x.c)
		}
		for ki, k := range keys {
			var stores []*client.Typed[todos.List]
			for _, x := range cls {
				stores = append(stores, x.stores[ki])
			}
			requireConverged(t, srv, k, stores...)
		}
		for _, x := range cls {
			x.c.Close()
		}
	}
}

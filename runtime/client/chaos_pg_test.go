package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/pgtest"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// balancer is a TCP load balancer on loopback: each connection goes to the
// next backend that accepts one, round robin, as a real one in front of
// several servers would send it.
type balancer struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint32
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startBalancer(t *testing.T, backends []string) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go b.serve(c)
	}
}

func (b *balancer) track(c net.Conn, on bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		if b.conns == nil {
			return false
		}
		b.conns[c] = struct{}{}
	} else if b.conns != nil {
		delete(b.conns, c)
	}
	return true
}

func (b *balancer) serve(c net.Conn) {
	defer b.wg.Done()
	defer c.Close()
	start := int(b.next.Add(1))
	var up net.Conn
	for i := range b.backends {
		d, err := net.DialTimeout("tcp", b.backends[(start+i)%len(b.backends)], 300*time.Millisecond)
		if err == nil {
			up = d
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	if !b.track(c, true) || !b.track(up, true) {
		return
	}
	defer b.track(c, false)
	defer b.track(up, false)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

func (b *balancer) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.conns = nil
	b.mu.Unlock()
	b.wg.Wait()
}

// healthz returns the status code of a node's /healthz (0: no answer).
func healthz(addr string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestChaosSeveralNodesOnPostgres: three todos-server processes on one
// PostgreSQL database; six clients write one key concurrently, three
// through a load balancer and three each to a node of its own. Nodes are
// killed with SIGKILL under load and restarted, and PostgreSQL is stopped
// as by a crash and started again. At the end every mutation is in the log
// exactly once, in each client's order, every node serves the same state,
// and every client's view is it.
func TestChaosSeveralNodesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills server processes")
	}
	pg := pgtest.Start(t)
	dbURL := pg.NewDB(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "todos-server")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/todos/cmd/todos-server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const nodes = 3
	procs := make([]*serverProc, nodes)
	addrs := make([]string, nodes)
	for i := range procs {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addrs[i] = ln.Addr().String()
		ln.Close()
		procs[i] = &serverProc{t: t, bin: bin, db: dbURL, addr: addrs[i]}
		procs[i].start()
	}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()
	lb := startBalancer(t, addrs)
	lbURL := "ws://" + lb.ln.Addr().String() + "/v1/ws"

	const clients, rounds, perRound = 6, 4, 20
	dirs := make([]string, clients)
	cs := make([]*client.Client, clients)
	stores := make([]*client.Typed[todos.List], clients)
	for i := range cs {
		dirs[i] = t.TempDir()
		url := lbURL
		if i >= clients/2 {
			url = "ws://" + addrs[i%nodes] + "/v1/ws"
		}
		c, err := client.New(url, client.Options{APIKey: servertest.DevKey, Dir: dirs[i], MinBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s, err := client.Open[todos.List](c, todos.ListType, "chaos")
		if err != nil {
			t.Fatal(err)
		}
		cs[i], stores[i] = c, s
	}
	kills, degraded := 0, 0
	for round := 0; round < rounds; round++ {
		for n := 0; n < perRound; n++ {
			for i := range cs {
				if err := stores[i].Mutate(todos.ListAddArgs{Title: fmt.Sprintf("c%d-r%d-n%d", i, round, n)}); err != nil {
					t.Fatal(err)
				}
			}
			if n == perRound/2 {
				if round == 2 {
					// PostgreSQL goes away under load: the nodes say
					// so on /healthz, and recover when it is back.
					pg.Stop()
					for _, a := range addrs {
						if healthz(a) == http.StatusServiceUnavailable {
							degraded++
						}
					}
					time.Sleep(500 * time.Millisecond)
					pg.StartAgain()
				} else {
					p := procs[round%nodes]
					p.kill() // mid-stream: some mutations acknowledged, some in flight
					kills++
					time.Sleep(100 * time.Millisecond)
					p.start()
				}
			}
			if n%5 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i, c := range cs {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatalf("client %d: WaitSynced: %v %+v", i, err, c.Status())
		}
	}
	total := clients * rounds * perRound
	var first []byte
	for i, a := range addrs {
		srv := &servertest.Server{HTTPURL: "http://" + a, Key: servertest.DevKey}
		state, seq := serverState(t, srv, "chaos")
		if int(seq) != total {
			t.Fatalf("node %d: the log has %d events, want %d", i, seq, total)
		}
		if first == nil {
			first = state
		} else if string(state) != string(first) {
			t.Fatalf("node %d serves another state than node 0", i)
		}
	}
	checkChaosTitles(t, first, clients, rounds, perRound)
	for i, a := range addrs {
		requireConverged(t, &servertest.Server{HTTPURL: "http://" + a, Key: servertest.DevKey}, "chaos", stores[i], stores[i+nodes])
	}
	// Every node is healthy again once it has written.
	deadline := time.Now().Add(30 * time.Second)
	for i, a := range addrs {
		for healthz(a) != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("node %d still unhealthy", i)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, c := range cs {
		c.Close()
	}
	if degraded == 0 {
		t.Fatal("no node said degraded while PostgreSQL was down")
	}
	t.Logf("chaos on PostgreSQL: %d nodes, %d SIGKILLs, one PostgreSQL crash (%d nodes degraded meanwhile), %d mutations each landed exactly once", nodes, kills, degraded, total)
}

package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// serverProc is a real todos-server process on a fixed loopback port.
type serverProc struct {
	t    *testing.T
	bin  string
	db   string
	addr string
	cmd  *exec.Cmd
}

func (p *serverProc) start() {
	p.t.Helper()
	var err error
	for try := 0; try < 50; try++ {
		cmd := exec.Command(p.bin, "--addr", p.addr, "--db", p.db, "--dev-key", servertest.DevKey, "--log-level", "warn")
		stderr, _ := cmd.StderrPipe()
		if err = cmd.Start(); err != nil {
			p.t.Fatal(err)
		}
		ok := make(chan bool, 1)
		go func() {
			// The server logs nothing at warn level when it starts well;
			// probe the port instead, and drain stderr.
			go io.Copy(io.Discard, bufio.NewReader(stderr))
			for i := 0; i < 200; i++ {
				if c, err := net.Dial("tcp", p.addr); err == nil {
					c.Close()
					ok <- true
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			ok <- false
		}()
		if <-ok {
			p.cmd = cmd
			return
		}
		cmd.Process.Kill()
		cmd.Wait()
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("server did not start on %s: %v", p.addr, err)
}

func (p *serverProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// TestChaosServerKilledClientsRestarted: a real server process is killed
// with SIGKILL and restarted several times while three real clients write;
// the clients themselves are closed and reopened from their Dirs. At the end
// every mutation is in the log exactly once and all replicas agree.
func TestChaosServerKilledClientsRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "todos-server")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/todos/cmd/todos-server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := &serverProc{t: t, bin: bin, db: filepath.Join(dir, "chaos.db"), addr: addr}
	p.start()
	defer func() { p.kill() }()
	url := "ws://" + addr + "/v1/ws"

	const clients, rounds, perRound = 3, 4, 25
	dirs := make([]string, clients)
	cs := make([]*client.Client, clients)
	stores := make([]*client.Typed[todos.List], clients)
	openClient := func(i int) {
		c, err := client.New(url, client.Options{APIKey: servertest.DevKey, Dir: dirs[i], MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s, err := client.Open[todos.List](c, todos.ListType, "chaos")
		if err != nil {
			t.Fatal(err)
		}
		cs[i], stores[i] = c, s
	}
	for i := range cs {
		dirs[i] = t.TempDir()
		openClient(i)
	}
	kills, restarts := 0, 0
	for round := 0; round < rounds; round++ {
		for n := 0; n < perRound; n++ {
			for i := range cs {
				if err := stores[i].Mutate(todos.ListAddArgs{Title: fmt.Sprintf("c%d-r%d-n%d", i, round, n)}); err != nil {
					t.Fatal(err)
				}
			}
			if n == perRound/2 {
				p.kill() // mid-stream: some mutations acknowledged, some in flight
				kills++
				p.start()
			}
			if n%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		// Restart one client from its Dir, pending mutations and all.
		i := round % clients
		if err := cs[i].Close(); err != nil {
			t.Fatal(err)
		}
		openClient(i)
		restarts++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatalf("WaitSynced: %v %+v", err, c.Status())
		}
	}
	srv := &servertest.Server{HTTPURL: "http://" + addr, Key: servertest.DevKey}
	state, seq := serverState(t, srv, "chaos")
	total := clients * rounds * perRound
	if int(seq) != total {
		t.Fatalf("log has %d events, want %d", seq, total)
	}
	checkChaosTitles(t, state, clients, rounds, perRound)
	requireConverged(t, srv, "chaos", stores...)
	for _, c := range cs {
		c.Close()
	}
	t.Logf("chaos: %d SIGKILLs, %d client restarts, %d mutations each landed exactly once", kills, restarts, total)
}

// checkChaosTitles checks a chaos test's list: each client's title
// c<i>-r<round>-n<n> is there exactly once, and each client's titles come
// in the order it made them.
func checkChaosTitles(t *testing.T, state []byte, clients, rounds, perRound int) {
	t.Helper()
	for i := 0; i < clients; i++ {
		for r := 0; r < rounds; r++ {
			for n := 0; n < perRound; n++ {
				title := fmt.Sprintf(`"c%d-r%d-n%d"`, i, r, n)
				if c := strings.Count(string(state), title); c != 1 {
					t.Fatalf("%s appears %d times", title, c)
				}
			}
		}
	}
	var list todos.List
	if err := json.Unmarshal(state, &list); err != nil {
		t.Fatal(err)
	}
	last := make([]int, clients)
	for _, it := range list.Items {
		var i, r, n int
		fmt.Sscanf(it.Title, "c%d-r%d-n%d", &i, &r, &n)
		if k := r*perRound + n + 1; k <= last[i] {
			t.Fatalf("client %d: %s after its mutation #%d", i, it.Title, last[i])
		} else {
			last[i] = k
		}
	}
}

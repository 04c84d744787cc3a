package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// buildTodosServer builds the generated todos server once per test binary.
func buildTodosServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a server binary")
	}
	bin := filepath.Join(t.TempDir(), "todos-server")
	cmd := exec.Command("go", "build", "-o", bin, "../../examples/todos/cmd/todos-server")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listenRe = regexp.MustCompile(`better-state listening"? addr=(\S+)`)

// proc is a real server process.
type proc struct {
	cmd  *exec.Cmd
	addr string
}

func startProc(t *testing.T, bin, db string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--db", db, "--dev-key", servertest.DevKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case p.addr = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return p
}

// TestSIGKILLKeepsAcknowledgedMutations kills a real server process after
// it acknowledged N mutations and checks all N after a restart.
func TestSIGKILLKeepsAcknowledgedMutations(t *testing.T) {
	bin := buildTodosServer(t)
	db := filepath.Join(t.TempDir(), "kill.db")
	total := 0
	for round := 0; round < 3; round++ {
		p := startProc(t, bin, db)
		s := &servertest.Server{URL: "ws://" + p.addr + "/v1/ws", HTTPURL: "http://" + p.addr, Key: servertest.DevKey}
		c := connect(t, s, "killer")
		c.subTodos("k", 0, "")
		// Catch up on what earlier rounds wrote.
		for {
			m := c.expect2()
			if m.T == protocol.TSynced {
				if int(m.Seq) != total || int(m.Mid) != total {
					t.Fatalf("round %d: after restart seq %d mid %d, want %d", round, m.Seq, m.Mid, total)
				}
				break
			}
		}
		const n = 200
		for i := 1; i <= n; i++ {
			c.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: uint64(total + i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint(total + i)})})
		}
		acked := 0
		for acked < n {
			if m := c.expect(protocol.TEv); int(m.Seq) == total+acked+1 {
				acked++
			}
		}
		// Everything acknowledged must survive SIGKILL: no graceful anything.
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		total += n
	}
	p := startProc(t, bin, db)
	s := &servertest.Server{HTTPURL: "http://" + p.addr, Key: servertest.DevKey}
	seq, list := stateOf(t, s, "k")
	if int(seq) != total || len(list.Items) != total {
		t.Fatalf("after kills: seq %d, %d items; want %d", seq, len(list.Items), total)
	}
	for i, it := range list.Items {
		if it.Title != fmt.Sprint(i+1) {
			t.Fatalf("item %d is %q", i, it.Title)
		}
	}
	// A graceful stop (SIGTERM) exits 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("server did not stop on SIGTERM")
	}
}

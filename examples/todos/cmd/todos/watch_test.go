package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/proctest"
)

// watcher is a `todos watch` process and the "watching:" lines it prints.
type watcher struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
}

func startWatch(t *testing.T, bin, url, name string) *watcher {
	t.Helper()
	cmd := exec.Command(bin, "--url", url, "--key", "dev", "--dir", t.TempDir(), "--list", "shared", "--name", name, "watch")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, cmd: cmd, lines: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(w.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "watching: "); ok {
				w.lines <- l
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	return w
}

// sees waits until the watcher prints exactly these names (in any order;
// "(you)" marks its own).
func (w *watcher) sees(names ...string) {
	w.t.Helper()
	slices.Sort(names)
	timeout := time.After(20 * time.Second)
	var last string
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				w.t.Fatalf("watch ended; last line %q, want %v", last, names)
			}
			last = l
			got := strings.Split(l, ", ")
			slices.Sort(got)
			if slices.Equal(got, names) {
				return
			}
		case <-timeout:
			w.t.Fatalf("watch printed %q, not %v", last, names)
		}
	}
}

// TestWatchShowsWhoElseIsWatching runs a real server process and two
// `todos watch` processes: each sees the other join; one that stops (its
// connection stays open but answers no ping) leaves, and is back when it
// continues; one that is interrupted leaves at once.
func TestWatchShowsWhoElseIsWatching(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	todos := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos")
	server := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos-server")
	addr := proctest.FreeAddr(t)
	srv := exec.Command(server, "--addr", addr, "--db", filepath.Join(t.TempDir(), "db"), "--dev-key", "dev", "--ping", "500ms", "--log-level", "warn")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	})
	proctest.WaitHealthy(t, "http://"+addr)
	url := "ws://" + addr + "/v1/ws"

	ann := startWatch(t, todos, url, "ann")
	ann.sees("ann (you)")
	bob := startWatch(t, todos, url, "bob")
	bob.sees("ann", "bob (you)")
	ann.sees("ann (you)", "bob")

	// Stopped, bob answers no ping: the server drops him, and he leaves.
	bob.cmd.Process.Signal(syscall.SIGSTOP)
	ann.sees("ann (you)")
	// Continued, his client reconnects and sets its presence again.
	bob.cmd.Process.Signal(syscall.SIGCONT)
	ann.sees("ann (you)", "bob")
	bob.sees("ann", "bob (you)")

	// Interrupted, ann's connection closes: she leaves at once.
	ann.cmd.Process.Signal(os.Interrupt)
	bob.sees("bob (you)")
}

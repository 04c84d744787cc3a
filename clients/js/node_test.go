// Package jsclient_test runs the JavaScript client's tests (node --test) as
// part of go test ./...: the protocol's vectors, and the client's scenarios
// against a real todos server process, with the Go todos CLI beside it.
package jsclient_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/proctest"
)

func TestNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("BS_REQUIRE_NODE") != "" {
			t.Fatal("node is not installed (Debian: apt-get install nodejs)")
		}
		t.Skip("node is not installed (Debian: apt-get install nodejs)")
	}
	installDeps(t)
	// The server and the CLI run as separate processes, which go test's
	// cache cannot see: naming the schema here ties this test's cached
	// result to it.
	t.Logf("serving %s", todos.ListType.Name)
	server := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos-server")
	cli := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos")
	addr := proctest.FreeAddr(t)
	const key = "bs-js-test-key"
	secret := filepath.Join(t.TempDir(), "token.secret")
	if err := os.WriteFile(secret, []byte("the js tests' token secret, 32 bytes or more"), 0o600); err != nil {
		t.Fatal(err)
	}
	mint := exec.Command(server, "tokens", "mint", "--token-secret-file", secret, "--actor", "reader", "--grant", "js-readonly-*:r", "--ttl", "1h")
	readOnly, err := mint.Output()
	if err != nil {
		t.Fatalf("tokens mint: %v", err)
	}
	// A low mutation rate, so that the pacing scenario meets the limit.
	srv := exec.Command(server, "--addr", addr, "--db", filepath.Join(t.TempDir(), "js.db"),
		"--dev-key", key, "--rate", "40", "--burst", "20", "--log-level", "warn", "--token-secret-file", secret)
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	httpURL := "http://" + addr
	proctest.WaitHealthy(t, httpURL)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, node, "--test")
	run.Env = append(os.Environ(), "BS_HTTP="+httpURL, "BS_KEY="+key, "BS_TODOS_CLI="+cli, "BS_READONLY_TOKEN="+strings.TrimSpace(string(readOnly)))
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if bytes.Contains(out, []byte("# skipped 0")) == false {
		t.Fatalf("node skipped scenarios:\n%s", out)
	}
}

// installDeps installs the client's one dependency (ws, pinned in
// package-lock.json) when it is not there yet.
func installDeps(t *testing.T) {
	if _, err := os.Stat(filepath.Join("node_modules", "ws", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node_modules is missing and npm is not installed (Debian: apt-get install npm), or run npm ci in clients/js")
	}
	if out, err := exec.Command(npm, "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	// The loop tests build apps from this checkout in subprocesses, which
	// go test's cache cannot see: these imports tie the cached result to
	// the code the apps link (the server command and the client CLI).
	"github.com/better-state/better-state/internal/proctest"
	_ "github.com/better-state/better-state/runtime/client/cli"
	_ "github.com/better-state/better-state/runtime/server/serve"
)

// The app developer's loop, run as a user runs it: subprocesses, the
// user's environment without GOFLAGS, a module outside this repository
// whose only special step is a replace to this checkout (no version of
// Better-State is published yet).

// userEnv is the environment of the go commands: the test's own, without
// GOFLAGS, so that nothing like -mod=mod hides what a user would hit.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFLAGS=") && !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOWORK=off")
}

// sh runs a command in dir and fails the test with its output if it fails.
func sh(t *testing.T, dir string, args ...string) string {
	t.Helper()
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	c.Env = userEnv()
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// server is a generated server binary running as a child process.
type server struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	addr string
}

func startServer(t *testing.T, bin, db string) *server {
	t.Helper()
	s := &server{addr: proctest.FreeAddr(t)}
	s.cmd = exec.Command(bin, "--addr", s.addr, "--db", db, "--dev-key", "dev")
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up: %v\n%s", bin, err, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	if s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exit: %v\n%s", err, s.out.String())
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
		t.Errorf("server did not stop on SIGTERM\n%s", s.out.String())
	}
}

// client runs a client binary against s and returns its stdout, failing
// the test unless it exits 0 online.
func (s *server) client(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	base := []string{"--url", "ws://" + s.addr + "/v1/ws", "--key", "dev", "--dir", dir, "--wait", "10s"}
	c := exec.Command(bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "offline") {
		t.Fatalf("%s %s ran offline:\n%s\n%s", filepath.Base(bin), strings.Join(args, " "), stdout.String(), stderr.String())
	}
	return stdout.String()
}

func checkout(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

const cartV1 = `// Package shop is a shopping cart shared by a household.
package shop

//go:` + `generate go tool bsgen -server ../cmd/shop-server

import "github.com/better-state/better-state/schema"

// Cart is one shared cart.
//
//bs:state
type Cart struct {
	Items []string ` + "`json:\"items\"`" + `
}

// Add puts an item in the cart.
func (c *Cart) Add(ctx schema.Ctx, item string) error {
	if item == "" {
		return schema.Reject("empty", "an item needs a name")
	}
	c.Items = append(c.Items, item)
	return nil
}
`

// cartV2 adds a field and an action.
const cartV2 = `// Package shop is a shopping cart shared by a household.
package shop

//go:` + `generate go tool bsgen -server ../cmd/shop-server

import "github.com/better-state/better-state/schema"

// Cart is one shared cart.
//
//bs:state
type Cart struct {
	Items []string ` + "`json:\"items\"`" + `
	Note  string   ` + "`json:\"note\"`" + `
}

// Add puts an item in the cart.
func (c *Cart) Add(ctx schema.Ctx, item string) error {
	if item == "" {
		return schema.Reject("empty", "an item needs a name")
	}
	c.Items = append(c.Items, item)
	return nil
}

// SetNote sets the note shown with the cart.
func (c *Cart) SetNote(ctx schema.Ctx, note string) error {
	c.Note = note
	return nil
}
`

const cartTest = `package shop

import (
	"testing"

	"github.com/better-state/better-state/schema"
)

func TestAddRefusesEmpty(t *testing.T) {
	var c Cart
	if err := c.Add(schema.NewContext(schema.Meta{Actor: "a"}), ""); err == nil {
		t.Fatal("empty item accepted")
	}
}
`

func clientMain(withNote bool) string {
	note := ""
	if withNote {
		note = `
		{Name: "note", Args: "TEXT", MinArgs: 1, Do: func(c *cart, a []string) error {
			return c.Mutate(shop.CartSetNoteArgs{Note: a[0]})
		}},`
	}
	return `// Command shop is the cart's command-line client.
package main

import (
	"fmt"
	"io"
	"os"

	"example.com/shop/shop"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/client/cli"
)

type cart = client.Typed[shop.Cart]

var app = &cli.App[shop.Cart]{
	Name: "shop", Type: shop.CartType, KeyFlag: "cart",
	Print: func(w io.Writer, c shop.Cart) { fmt.Fprintf(w, "items: %v\n", c.Items) },
	Commands: []cli.Command[shop.Cart]{
		{Name: "add", Args: "ITEM", MinArgs: 1, Do: func(c *cart, a []string) error {
			return c.Mutate(shop.CartAddArgs{Item: a[0]})
		}},
		{Name: "show"},` + note + `
	},
}

func main() { os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr)) }
`
}

// TestLoopExistingModule adds Better-State to a module of its own, then
// changes the schema under a running deployment: the old client binary
// keeps syncing with the new server, and the new client uses the new action.
func TestLoopExistingModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module outside this repository")
	}
	repo, dir := checkout(t), t.TempDir()
	bin := filepath.Join(dir, "bin")
	write(t, dir, map[string]string{
		"go.mod":                   "module example.com/shop\n\ngo 1.26\n\nrequire github.com/better-state/better-state v0.0.0-00010101000000-000000000000\n\nreplace github.com/better-state/better-state => " + repo + "\n",
		"shop/cart.go":             cartV1,
		"shop/cart_test.go":        cartTest,
		"cmd/shop/main.go":         clientMain(false),
		"cmd/shop-server/keep.txt": "the server's main.go is generated here\n",
	})
	// docs/GUIDE.md, "Add Better-State to an existing module".
	sh(t, dir, "go", "mod", "edit", "-tool=github.com/better-state/better-state/cmd/bsgen")
	sh(t, dir, "go", "mod", "tidy")
	if out := sh(t, dir, "go", "generate", "./..."); !strings.Contains(out, "run go mod tidy") {
		t.Errorf("bsgen wrote a new server without saying to tidy: %q", out)
	}
	// The new server imports runtime/server, whose dependencies the
	// module did not need before.
	sh(t, dir, "go", "mod", "tidy")
	sh(t, dir, "go", "vet", "./...")
	sh(t, dir, "go", "test", "./...")
	sh(t, dir, "go", "build", "-o", filepath.Join(bin, "server-v1"), "./cmd/shop-server")
	sh(t, dir, "go", "build", "-o", filepath.Join(bin, "client-v1"), "./cmd/shop")

	db := filepath.Join(dir, "shop.db")
	srv := startServer(t, filepath.Join(bin, "server-v1"), db)
	if out := srv.client(t, filepath.Join(bin, "client-v1"), filepath.Join(dir, "c1"), "add", "milk"); !strings.Contains(out, "items: [milk]") {
		t.Fatalf("v1 client: %q", out)
	}

	// A field and an action more: regenerate, rebuild, restart on the
	// same database.
	write(t, dir, map[string]string{"shop/cart.go": cartV2, "cmd/shop/main.go": clientMain(true)})
	sh(t, dir, "go", "generate", "./...")
	sh(t, dir, "go", "vet", "./...")
	sh(t, dir, "go", "test", "./...")
	sh(t, dir, "go", "build", "-o", filepath.Join(bin, "server-v2"), "./cmd/shop-server")
	sh(t, dir, "go", "build", "-o", filepath.Join(bin, "client-v2"), "./cmd/shop")
	srv.stop(t)
	srv = startServer(t, filepath.Join(bin, "server-v2"), db)

	if out := srv.client(t, filepath.Join(bin, "client-v1"), filepath.Join(dir, "c1"), "add", "eggs"); !strings.Contains(out, "items: [milk eggs]") {
		t.Fatalf("old client against the new server: %q", out)
	}
	srv.client(t, filepath.Join(bin, "client-v2"), filepath.Join(dir, "c2"), "note", "for sunday")
	if out := srv.client(t, filepath.Join(bin, "client-v1"), filepath.Join(dir, "c1"), "show"); !strings.Contains(out, "items: [milk eggs]") {
		t.Fatalf("old client after the new action: %q", out)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/v1/namespaces/default/states/main", srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The state holds the new field, set by the new action.
	req, _ := http.NewRequestWithContext(context.Background(), "GET", fmt.Sprintf("http://%s/v1/namespaces/default/states/main", srv.addr), nil)
	req.Header.Set("Authorization", "Bearer dev")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), `"note":"for sunday"`) || !strings.Contains(body.String(), `"items":["milk","eggs"]`) {
		t.Fatalf("state on the server: %s", body.String())
	}
}

// TestLoopInitApps scaffolds the blank app and each example pointing at
// this checkout and takes it through the same steps: tidy, generate (which
// must not change what init wrote), vet, test, then its server and client.
func TestLoopInitApps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests three scaffolded apps")
	}
	repo := checkout(t)
	for _, tc := range []struct{ example, cmd, verb string }{
		{"", "counter", "add 2"},
		{"todos", "todos", "add milk"},
		{"polls", "polls", "setup lunch? soup salad"},
	} {
		name := tc.example
		if name == "" {
			name = "blank"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "my"+name)
			args := []string{"--replace", repo, dir}
			if tc.example != "" {
				args = append([]string{"--example", tc.example}, args...)
			}
			var out, errb bytes.Buffer
			if code := initCmd(args, &out, &errb); code != 0 {
				t.Fatalf("init: %d %s", code, errb.String())
			}
			gen := filepath.Join(dir, tc.cmd, tc.cmd+"_bs.go")
			before, err := os.ReadFile(gen)
			if err != nil {
				t.Fatal(err)
			}
			sh(t, dir, "go", "mod", "tidy")
			sh(t, dir, "go", "generate", "./...")
			if after, _ := os.ReadFile(gen); !bytes.Equal(before, after) {
				t.Fatalf("go generate changed %s", gen)
			}
			if out := sh(t, dir, "gofmt", "-l", "."); out != "" {
				t.Fatalf("not gofmt-clean: %s", out)
			}
			sh(t, dir, "go", "vet", "./...")
			sh(t, dir, "go", "test", "./...")
			bin := filepath.Join(dir, "bin")
			sh(t, dir, "go", "build", "-o", bin+"/", "./cmd/...")
			srv := startServer(t, filepath.Join(bin, tc.cmd+"-server"), filepath.Join(dir, "app.db"))
			srv.client(t, filepath.Join(bin, tc.cmd), filepath.Join(dir, "c"), strings.Fields(tc.verb)...)
		})
	}
}

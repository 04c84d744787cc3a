// Package pgtest runs a real PostgreSQL server for tests: Debian's
// postgresql package, initdb and pg_ctl in a temporary directory, on a
// loopback port. As root (CI), the server runs as the user nobody, since
// PostgreSQL refuses to run as root.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Cluster is a running PostgreSQL server.
type Cluster struct {
	t       testing.TB
	bin     string // directory of initdb and pg_ctl
	dir     string // owned by the server's user
	data    string
	Port    int
	asUser  string // "" when not root
	dbCount atomic.Int32
}

// bindir finds PostgreSQL's programs: Debian keeps them in
// /usr/lib/postgresql/VERSION/bin.
func bindir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// Start starts a PostgreSQL server for the test (and its subtests) and
// stops it when the test ends. Without PostgreSQL the test is skipped,
// unless BS_REQUIRE_POSTGRES is set (CI sets it): there it fails.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := bindir()
	if bin == "" {
		if os.Getenv("BS_REQUIRE_POSTGRES") != "" {
			t.Fatal("PostgreSQL is not installed (Debian: apt-get install postgresql), and BS_REQUIRE_POSTGRES is set")
		}
		t.Skip("PostgreSQL is not installed (Debian: apt-get install postgresql); set BS_REQUIRE_POSTGRES to make this a failure")
	}
	dir, err := os.MkdirTemp("", "bs-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		c.asUser = "nobody"
		u, err := user.Lookup(c.asUser)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.startServer()
	return c
}

func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if c.asUser != "" {
		quoted := make([]string, 0, len(args)+1)
		for _, a := range append([]string{prog}, args...) {
			quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
		cmd = exec.Command("su", c.asUser, "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
	} else {
		cmd = exec.Command(prog, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data}, args...)...)
}

func (c *Cluster) startServer() {
	c.t.Helper()
	// fsync off: a crash of the PostgreSQL process loses nothing committed
	// (the kernel has the pages); only a crash of the machine would.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.Port, c.dir)
	if out, err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server as a crash would (immediate mode).
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.pgctl("stop", "-m", "immediate", "-w"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// StartAgain starts the server after Stop, on the same port.
func (c *Cluster) StartAgain() { c.startServer() }

// URL returns the URL of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// NewDB creates an empty database and returns its URL.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("bs_%d", c.dbCount.Add(1))
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return c.URL(name)
}

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/better-state/better-state/runtime/server"
)

// target is what a scenario runs against: the Better-State server or the
// bare relay, in a child process of its own (or already running, --url).
type target struct {
	kind    string // "bs" or "relay"
	httpURL string // http://host:port
	key     string // API key (bs)
	wsCred  string // what WebSocket clients authenticate with, if not key: an end-user token (--tokens)
	cmd     *exec.Cmd
	dir     string // the child's temp dir, removed by stop
	db      string // the child's database (bs)
	exited  chan struct{}
	logFile *os.File
	wrap    []string  // a command that runs the child (prlimit ...), or none
	peers   []*target // the other nodes on the same database (--nodes, or --url A,B)
}

// nodes returns t and its peers: connection i goes to nodes()[i%len].
func (t *target) nodes() []*target { return append([]*target{t}, t.peers...) }

// node returns the node of connection i.
func (t *target) node(i int) *target {
	if len(t.peers) == 0 {
		return t
	}
	return t.nodes()[i%(len(t.peers)+1)]
}

func (t *target) wsURL() string {
	return "ws" + strings.TrimPrefix(t.httpURL, "http") + "/v1/ws"
}

func (t *target) relayURL(room string) string {
	return "ws" + strings.TrimPrefix(t.httpURL, "http") + "/relay?room=" + room
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startBS starts `bsbench serve` on a new database in a temp dir, with the
// per-connection and per-key limits lifted so that the load is the limit.
func startBS(ctx context.Context, cfg *config, extra ...string) (*target, error) {
	dir, err := os.MkdirTemp("", "bsbench-")
	if err != nil {
		return nil, err
	}
	t := &target{kind: "bs", dir: dir, db: filepath.Join(dir, "bench.db"), key: "bsbench-" + randomHex(8)}
	if cfg.pg != "" {
		t.db = cfg.pg
	}
	if cfg.tokens {
		// The load's connections authenticate with an end-user token
		// granting every key, which the server checks (HS256).
		secret := []byte(randomHex(32))
		file := filepath.Join(dir, "token.secret")
		if err := os.WriteFile(file, secret, 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		tok, err := server.MintToken(secret, server.DefaultNamespace, "bench", []string{"*:rw"}, 24*time.Hour)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		t.wsCred = tok
		extra = append(extra, "--token-secret-file", file)
	}
	if err := t.startServe(ctx, cfg, extra...); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for range cfg.nodes - 1 {
		pdir, err := os.MkdirTemp("", "bsbench-")
		if err != nil {
			t.stop()
			return nil, err
		}
		p := &target{kind: "bs", dir: pdir, db: t.db, key: t.key, wsCred: t.wsCred}
		t.peers = append(t.peers, p)
		if err := p.startServe(ctx, cfg, extra...); err != nil {
			t.stop()
			return nil, err
		}
	}
	return t, nil
}

// startServe (re)starts the bs child on t.db.
func (t *target) startServe(ctx context.Context, cfg *config, extra ...string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"serve", "--addr", addr, "--db", t.db, "--dev-key", t.key,
		"--rate", "1e9", "--burst", "1000000000", "--key-rate", "1e9", "--actor-rate", "1e9",
		"--send-queue", "1000000", "--max-conns", "100000", "--log-level", "warn",
		"--ns-event-rate", "1e9", "--ns-byte-rate", "1e12"}
	if cfg.cpuProfile != "" {
		args = append(args, "--cpuprofile", cfg.cpuProfile)
	}
	args = append(args, cfg.serverArgs...)
	args = append(args, extra...)
	return t.spawn(ctx, addr, args)
}

// startRelay starts `bsbench relay`.
func startRelay(ctx context.Context) (*target, error) {
	dir, err := os.MkdirTemp("", "bsbench-relay-")
	if err != nil {
		return nil, err
	}
	t := &target{kind: "relay", dir: dir}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := t.spawn(ctx, addr, []string{"relay", "--addr", addr}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return t, nil
}

func (t *target) spawn(ctx context.Context, addr string, args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(t.dir, "child.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(self, args...)
	if len(t.wrap) > 0 {
		// The wrapper execs the child: its pid is the child's.
		cmd = exec.Command(t.wrap[0], append(append(t.wrap[1:len(t.wrap):len(t.wrap)], self), args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child dies with us even if we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	t.cmd, t.logFile, t.httpURL = cmd, logf, "http://"+addr
	t.exited = make(chan struct{})
	go func() { cmd.Wait(); close(t.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", t.httpURL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-t.exited:
			return fmt.Errorf("%s child exited at start: %s", t.kind, t.childLog())
		case <-ctx.Done():
			t.kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.kill()
			return fmt.Errorf("%s child did not answer /healthz in 30s", t.kind)
		}
	}
}

func (t *target) childLog() string {
	b, _ := os.ReadFile(filepath.Join(t.dir, "child.log"))
	return strings.TrimSpace(string(b))
}

// stopChild ends the child gracefully (SIGTERM, then SIGKILL after 15s).
func (t *target) stopChild() error {
	if t.cmd == nil {
		return nil
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-t.exited:
	case <-time.After(15 * time.Second):
		t.cmd.Process.Kill()
		<-t.exited
		err = errors.New("child did not stop on SIGTERM")
	}
	if st := t.cmd.ProcessState; err == nil && st != nil && !st.Success() {
		err = fmt.Errorf("%s child: %s: %s", t.kind, st, lastLines(t.childLog(), 5))
	}
	t.cmd = nil
	t.logFile.Close()
	return err
}

func (t *target) kill() {
	if t.cmd != nil {
		t.cmd.Process.Kill()
		<-t.exited
		t.cmd = nil
		t.logFile.Close()
	}
}

// stop ends the children and removes their files.
func (t *target) stop() error {
	var err error
	for _, n := range t.nodes() {
		err = errors.Join(err, n.stopChild())
		if n.dir != "" {
			os.RemoveAll(n.dir)
		}
	}
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// usage is a process's CPU time and resident memory.
type usage struct {
	cpu time.Duration
	rss int64
}

// measure reads the children's usage from /proc, all nodes together;
// zero for servers not ours.
func (t *target) measure() usage {
	var sum usage
	for _, n := range t.nodes() {
		u := n.measureOne()
		sum.cpu += u.cpu
		sum.rss += u.rss
	}
	return sum
}

func (t *target) measureOne() usage {
	if t.cmd == nil || t.cmd.Process == nil {
		return usage{}
	}
	u, _ := procUsage(t.cmd.Process.Pid)
	return u
}

// procUsage reads utime+stime from /proc/PID/stat and VmRSS from
// /proc/PID/status.
func procUsage(pid int) (usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return usage{}, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	defer f.Close()
	rss, err := parseStatusRSS(f)
	return usage{cpu: cpu, rss: rss}, err
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// parseStatCPU returns utime+stime of a /proc/PID/stat line. The command
// name (field 2) may hold spaces, so fields are counted after its ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no )")
	}
	f := strings.Fields(stat[i+1:])
	// After ')': state is field 3; utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

func parseStatusRSS(r interface{ Read([]byte) (int, error) }) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("status: odd VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("status: no VmRSS")
}

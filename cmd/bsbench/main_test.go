package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickRun is the smoke run: every scenario with small counts, against
// the server and the bare relay, each in a child process, through the built
// command. It keeps the tool from rotting; the figures come from the
// commands in docs/BENCHMARKS.md.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tool")
	}
	dir := t.TempDir()
	bin := buildTool(t, dir)
	js := filepath.Join(dir, "out.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "all", "--quick", "--baseline", "--json", js)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bsbench all --quick: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())

	f, err := os.Open(js)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		name := fmt.Sprintf("%s/%s/%v", o["scenario"], o["target"], o["params"].(map[string]any)["rate"])
		seen[name] = o
		// The naive presence broadcast may drop slow members even at
		// the quick counts on a busy machine: that is what it shows.
		if o["errors"].(float64) != 0 && name != "presence/relay/<nil>" {
			t.Errorf("%s: errors %v", name, o["errors"])
		}
		if o["ops_per_s"].(float64) <= 0 {
			t.Errorf("%s: ops_per_s %v", name, o["ops_per_s"])
		}
		if o["target"] == "bs" && o["server_cpu_s"].(float64) <= 0 && o["scenario"] != "idle" {
			t.Errorf("%s: server_cpu_s %v", name, o["server_cpu_s"])
		}
		if o["server_rss_bytes"].(float64) <= 0 {
			t.Errorf("%s: server_rss_bytes %v", name, o["server_rss_bytes"])
		}
	}
	for _, want := range []struct {
		name   string
		fields []string
	}{
		{"write/bs/<nil>", []string{"p99_ms", "durable", "acknowledged"}},
		{"write/relay/<nil>", []string{"p99_ms"}},
		{"fanout/bs/20", []string{"deliveries", "deliveries_per_server_cpu_s"}},
		{"fanout/relay/20", []string{"deliveries", "deliveries_per_server_cpu_s"}},
		{"fanout/bs/100", []string{"deliveries"}},
		{"fanout/relay/100", []string{"deliveries"}},
		{"reconnect/bs/<nil>", []string{"seconds_to_synced"}},
		{"reconnect/relay/<nil>", []string{"seconds_to_synced"}},
		{"idle/bs/<nil>", []string{"server_bytes_per_conn"}},
		{"idle/relay/<nil>", []string{"server_bytes_per_conn"}},
		{"cold/bs/<nil>", []string{"first_snap_ms", "replay_events_per_s"}},
		{"presence/bs/<nil>", []string{"p99_ms", "member_updates_delivered", "server_cpu_us_per_delivered", "db_growth_bytes"}},
		{"presence/relay/<nil>", []string{"frames_delivered"}},
	} {
		o, ok := seen[want.name]
		if !ok {
			t.Errorf("no result for %s", want.name)
			continue
		}
		for _, k := range want.fields {
			if _, ok := o[k]; !ok {
				t.Errorf("%s: no field %s", want.name, k)
			}
		}
	}
	if d, e := seen["fanout/bs/20"]["deliveries"], seen["fanout/bs/20"]["expected_deliveries"]; d != e {
		t.Errorf("fanout: %v of %v deliveries", d, e)
	}
}

// TestLostMutationsAreCaught checks the correctness check against a real
// server: a count that differs from what was acknowledged is an error.
func TestLostMutationsAreCaught(t *testing.T) {
	s := servertest.Start(t, servertest.Register(counter.Register))
	l := &load{cfg: &config{}, t: &target{kind: "bs", httpURL: s.HTTPURL, key: s.Key}, res: &result{}, run: "t"}
	ctx := context.Background()
	ws, err := l.connect(ctx, l.clientID(0), "k")
	if err != nil {
		t.Fatal(err)
	}
	var acked, last atomic.Int64
	st := l.writer(0, ws, "k", 2, func(sent uint64) bool { return sent < 5 }, &acked, &last)
	if st.err != nil || st.acked != 5 {
		t.Fatalf("writer: %+v", st)
	}
	l.checkCounts(ctx, map[string]int{"k": 5})
	if l.res.Errors != 0 {
		t.Fatalf("5 acknowledged, 5 counted, but: %s", l.res.Failure)
	}
	l.checkCounts(ctx, map[string]int{"k": 6})
	if l.res.Errors != 1 || !strings.Contains(l.res.Failure, "n=5") {
		t.Fatalf("a lost mutation was not reported: %d errors, %q", l.res.Errors, l.res.Failure)
	}
}

// TestFailedRunExitsNonZero: a scenario that cannot run is an error.
func TestFailedRunExitsNonZero(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"write", "--url", "http://127.0.0.1:1", "--key", "k", "--quick"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if code := run([]string{"nope"}, &out, &errb); code != 2 {
		t.Fatalf("unknown scenario: exit %d", code)
	}
}

func TestParseProc(t *testing.T) {
	stat := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 600 0 0 0 250 50 0 0 20 0 9 0 100 1000000 500 18446744073709551615"
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Fatalf("cpu %v, %v; want 3s", cpu, err)
	}
	rss, err := parseStatusRSS(strings.NewReader("Name:\tx\nVmPeak:\t 1000 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || rss != 2048*1024 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	if _, err := parseStatusRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("no VmRSS, no error")
	}
	u, err := procUsage(os.Getpid())
	if err != nil || u.rss <= 0 {
		t.Fatalf("own usage: %+v, %v", u, err)
	}
}

func TestScanEvs(t *testing.T) {
	evs := [][]byte{
		protocol.Encode(&protocol.Msg{T: protocol.TEv, Key: "k", Seq: 3, Client: "a", Mid: 7, Name: "Add", Args: []byte(`{"n":1}`), Time: 5, Actor: "x"}),
		protocol.Encode(&protocol.Msg{T: protocol.TEv, Key: "k", Seq: 4, Client: "bb", Mid: 12, Name: "Add", Args: []byte(`{"n":1}`), Hash: "ab"}),
		protocol.Encode(&protocol.Msg{T: protocol.TSynced, Key: "k", Seq: 4, Mid: 9}),
	}
	var got []string
	bad := scanEvs(protocol.Batch(evs), func(c []byte, mid uint64) { got = append(got, fmt.Sprintf("%s#%d", c, mid)) })
	if bad || strings.Join(got, ",") != "a#7,bb#12" {
		t.Fatalf("got %v, bad %v", got, bad)
	}
	got = nil
	if scanEvs(evs[0], func(c []byte, mid uint64) { got = append(got, fmt.Sprintf("%s#%d", c, mid)) }); strings.Join(got, ",") != "a#7" {
		t.Fatalf("single: %v", got)
	}
	rej := protocol.Encode(&protocol.Msg{T: protocol.TRej, Key: "k", Mid: 2, Code: "zero", Message: "no"})
	if !scanEvs(protocol.Batch([][]byte{evs[0], rej}), func([]byte, uint64) {}) {
		t.Fatal("rej not seen")
	}
	if err := errorIn(rej); err == nil || !strings.Contains(err.Error(), "zero") {
		t.Fatalf("errorIn: %v", err)
	}
}

func TestFrames(t *testing.T) {
	cl, seq, ok := parseRelayFrame(relayFrame(42, 7))
	if !ok || cl != 42 || seq != 7 {
		t.Errorf("relay frame: %d %d %v", cl, seq, ok)
	}
	if _, _, ok := parseRelayFrame([]byte("x")); ok {
		t.Error("garbage parsed")
	}
	var m map[string]any
	if err := json.Unmarshal(mutFrame(`k"1`, 9), &m); err != nil || m["key"] != `k"1` || m["mid"] != float64(9) {
		t.Errorf("mut frame: %v %v", m, err)
	}
}

// TestRelay: a connection hears every frame of its room from the moment its
// dial returns (the sender included), and /healthz counts connections.
func TestRelay(t *testing.T) {
	hs := httptest.NewServer(newRelay())
	defer hs.Close()
	defer hs.Client().CloseIdleConnections()
	tg := &target{kind: "relay", httpURL: hs.URL}
	l := &load{cfg: &config{}, t: tg, res: &result{}, run: "t"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for round := range 50 {
		room := fmt.Sprint("r", round)
		sub, err := l.connect(ctx, "", room)
		if err != nil {
			t.Fatal(err)
		}
		w, err := l.connect(ctx, "", room)
		if err != nil {
			t.Fatal(err)
		}
		// No wait between the dials and the send.
		if err := write(w, relayFrame(1, uint64(round))); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*websocket.Conn{sub, w} {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if cl, seq, ok := parseRelayFrame(data); !ok || cl != 1 || seq != uint64(round) {
				t.Fatalf("round %d: got %q", round, data)
			}
		}
		if round == 0 {
			if n, err := tg.connections(ctx); err != nil || n != 2 {
				t.Fatalf("healthz: %d connections, %v", n, err)
			}
		}
		sub.CloseNow()
		w.CloseNow()
	}
}

func TestPerSecond(t *testing.T) {
	start := time.Unix(100, 0)
	if r := perSecond(50, start, time.Unix(102, 0).UnixNano()); r != 25 {
		t.Errorf("50 in 2s: %v", r)
	}
	if r := perSecond(0, start, 0); r != 0 {
		t.Errorf("nothing: %v", r)
	}
}

// buildTool builds bsbench into dir.
func buildTool(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bsbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestAbuseQuick runs two attacks of bsbench abuse end to end (the attacks
// themselves are tested in internal/abuse): the tool starts its server
// child with default limits and a lowered file limit where asked, and
// reports each attack with its figures.
func TestAbuseQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tool")
	}
	dir := t.TempDir()
	bin := buildTool(t, dir)
	js := filepath.Join(dir, "abuse.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "abuse", "--quick", "--only", "missing-keys", "--settle", "1s", "--json", js)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bsbench abuse: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Attack  string `json:"attack"`
		Saw     string `json:"attacker_saw"`
		PeakRSS int64  `json:"peak_rss_bytes"`
		HonestN int    `json:"honest_mutations"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if r.Attack != "missing-keys" || r.Saw != "not_found" || r.PeakRSS <= 0 || r.HonestN == 0 {
		t.Fatalf("report %+v", r)
	}
}

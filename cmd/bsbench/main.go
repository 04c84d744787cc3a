// Command bsbench measures Better-State the way users feel it, end to end
// over real WebSocket connections on loopback, next to a bare WebSocket
// relay (the floor).
//
//	bsbench <scenario> [flags]
//
// Scenarios: write, fanout, reconnect, idle, cold, presence, all; abuse runs the
// attacks of internal/abuse. By default the
// server runs as a child process (bsbench serve, on a temp database, with
// examples/counter registered) so that its CPU time and memory are measured
// apart from the load; --url and --key target a running server instead.
// --baseline runs the scenario against the bare relay as well (bsbench
// relay). See docs/BENCHMARKS.md for the commands and the figures.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/stats"
	"github.com/better-state/better-state/runtime/server/serve"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	url, key   string
	pg         string // the child servers' PostgreSQL database
	nodes      int    // child servers on it
	jsonPath   string
	baseline   bool
	tokens     bool
	cpuProfile string
	quick      bool
	serverArgs []string

	clients, keys, window int
	duration              time.Duration
	subscribers           int
	rate                  float64
	pending               int
	conns                 int
	events                int
	members               int
	hz                    float64
}

const usageText = `usage: bsbench <scenario> [flags]

scenarios:
  write      --clients 100 --keys 100 --window 3 --duration 10s
  fanout     --subscribers 1000 --rate 20 --duration 10s
  reconnect  --clients 1000 --pending 10 --keys 100
  idle       --conns 10000 --keys 100
  cold       --events 1000000
  presence   --members 500 --hz 10 --duration 10s: one key, every member updating its presence
             at --hz and receiving everyone's; --baseline: every update broadcast by the relay
  all        every scenario (fanout at --rate 20 and 100); --quick: small counts

Several nodes: --pg postgres://... --nodes 3 starts three servers on one
PostgreSQL database (or --url http://a,http://b,http://c targets running
ones); write and fanout spread their connections over the nodes, round
robin, and print each node's figures beside the total.
  abuse      every attack of issue 12 against a server with default limits: peak RSS,
             live heap after and --settle (2m) later, honest p99; --quick, --only NAME, --json F
  serve      run the server (server flags), used as the child process
  relay      run the bare relay (--addr), used as the child process

flags:
`

var scenarios = []string{"write", "fanout", "reconnect", "idle", "cold", "presence"}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve.Main(args[1:], counter.Register, todos.Register)
	case "relay":
		return relayMain(args[1:], stderr)
	case "abuse":
		return abuseMain(args[1:], stdout, stderr)
	}
	name := args[0]
	if name != "all" && !slices.Contains(scenarios, name) {
		fmt.Fprintf(stderr, "bsbench: unknown scenario %q\n\n%s", name, usageText)
		return 2
	}
	cfg := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText); fs.PrintDefaults() }
	fs.StringVar(&cfg.url, "url", "", "target running servers (http://host:port, or several nodes of one database: comma-separated) instead of starting one")
	fs.StringVar(&cfg.pg, "pg", "", "start the server children on this PostgreSQL database (postgres://...) instead of a SQLite file")
	fs.IntVar(&cfg.nodes, "nodes", 1, "server children on the --pg database; write and fanout spread their connections over them and report each node's figures")
	fs.StringVar(&cfg.key, "key", os.Getenv("BS_KEY"), "API key for --url (env BS_KEY)")
	fs.StringVar(&cfg.jsonPath, "json", "", "write one JSON object per scenario and target to this file")
	fs.BoolVar(&cfg.baseline, "baseline", false, "also run against the bare relay")
	fs.BoolVar(&cfg.tokens, "tokens", false, "the load authenticates with an end-user token (grants *:rw) instead of the API key")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "have the server child write a CPU profile of its run here (FILE.<scenario> when several run; cold: the replay run's)")
	fs.BoolVar(&cfg.quick, "quick", false, "small counts: a smoke run")
	fs.Func("server-flag", "pass a flag to the server child, e.g. --server-flag=--sync=normal (repeatable)", func(v string) error {
		cfg.serverArgs = append(cfg.serverArgs, v)
		return nil
	})
	fs.IntVar(&cfg.clients, "clients", 0, "connections writing (write: 100, reconnect: 1000)")
	fs.IntVar(&cfg.keys, "keys", 0, "keys the clients spread over (100)")
	fs.IntVar(&cfg.window, "window", 0, "mutations each writer keeps in flight (3: 300 in flight is what a 25 ms p99 allows at 25,000/s)")
	fs.DurationVar(&cfg.duration, "duration", 0, "how long load is sent (10s)")
	fs.IntVar(&cfg.subscribers, "subscribers", 0, "fanout: subscribers of the key (1000)")
	fs.Float64Var(&cfg.rate, "rate", 0, "fanout: events per second (20)")
	fs.IntVar(&cfg.pending, "pending", 0, "reconnect: mutations each client queued offline (10)")
	fs.IntVar(&cfg.conns, "conns", 0, "idle: connections (10000)")
	fs.IntVar(&cfg.events, "events", 0, "cold: length of the key's log (1000000)")
	fs.IntVar(&cfg.members, "members", 0, "presence: members of the key (500)")
	fs.Float64Var(&cfg.hz, "hz", 0, "presence: updates per second of each member (10)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bsbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.nodes < 1 || (cfg.nodes > 1 && cfg.pg == "" && cfg.url == "") {
		fmt.Fprintln(stderr, "bsbench: --nodes above 1 needs --pg (several servers share a PostgreSQL database, not a SQLite file)")
		return 2
	}
	if cfg.url != "" && cfg.key == "" {
		fmt.Fprintln(stderr, "bsbench: --url needs --key (or BS_KEY)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var runs []runSpec
	if name == "all" {
		for _, s := range scenarios {
			if s == "fanout" {
				runs = append(runs, runSpec{"fanout", paramsFor("fanout", cfg, 20)}, runSpec{"fanout", paramsFor("fanout", cfg, 100)})
				continue
			}
			runs = append(runs, runSpec{s, paramsFor(s, cfg, 0)})
		}
	} else {
		runs = append(runs, runSpec{name, paramsFor(name, cfg, 0)})
	}

	var results []*result
	failed := false
	for _, rs := range runs {
		kinds := []string{"bs"}
		if cfg.baseline && rs.name != "cold" {
			kinds = append(kinds, "relay")
		}
		for _, kind := range kinds {
			if cfg.url != "" && kind == "relay" {
				continue
			}
			if rs.name == "cold" && cfg.url != "" {
				fmt.Fprintln(stderr, "bsbench: cold restarts the server, so it needs its own child server: skipped with --url")
				continue
			}
			fmt.Fprintf(stderr, "== %s %s %s\n", rs.name, kind, rs.p.String())
			rc := *cfg
			if rc.cpuProfile != "" && len(runs) > 1 {
				rc.cpuProfile += "." + rs.label()
			}
			res, err := runOne(ctx, &rc, rs, kind, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "bsbench: %s against %s: %v\n", rs.name, kind, err)
				failed = true
				if res == nil {
					res = &result{Scenario: rs.name, Target: kind, Params: rs.p}
				}
				res.Errors++
				res.Failure = err.Error()
			}
			if res.Errors > 0 {
				failed = true
			}
			results = append(results, res)
			if ctx.Err() != nil {
				break
			}
		}
	}
	printTable(stdout, results)
	printNodes(stdout, results)
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, results); err != nil {
			fmt.Fprintln(stderr, "bsbench:", err)
			return 1
		}
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

type runSpec struct {
	name string
	p    params
}

// label names a run in file names: the scenario, and fanout's rate.
func (rs runSpec) label() string {
	if rs.name == "fanout" {
		return fmt.Sprintf("fanout-%v", rs.p["rate"])
	}
	return rs.name
}

// params are a scenario's settings, as reported in the JSON.
type params map[string]any

func (p params) String() string {
	ks := make([]string, 0, len(p))
	for k := range p {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, p[k])
	}
	return b.String()
}

func (p params) int(k string) int           { return p[k].(int) }
func (p params) dur(k string) time.Duration { d, _ := time.ParseDuration(p[k].(string)); return d }
func (p params) float(k string) float64     { return p[k].(float64) }
func pick[T comparable](flag, quick, full T, q bool) T {
	var zero T
	if flag != zero {
		return flag
	}
	if q {
		return quick
	}
	return full
}

// paramsFor fills a scenario's settings from the flags, else the defaults
// (small ones with --quick). rate overrides --rate for the runs of all.
func paramsFor(name string, c *config, rate float64) params {
	q := c.quick
	switch name {
	case "write":
		return params{"clients": pick(c.clients, 10, 100, q), "keys": pick(c.keys, 10, 100, q), "window": pick(c.window, 3, 3, q), "duration": pick(c.duration, 2*time.Second, 10*time.Second, q).String()}
	case "fanout":
		if rate == 0 {
			rate = pick(c.rate, 20, 20, q)
		}
		return params{"subscribers": pick(c.subscribers, 50, 1000, q), "rate": rate, "duration": pick(c.duration, 2*time.Second, 10*time.Second, q).String()}
	case "reconnect":
		return params{"clients": pick(c.clients, 100, 1000, q), "pending": pick(c.pending, 10, 10, q), "keys": pick(c.keys, 10, 100, q)}
	case "idle":
		return params{"conns": pick(c.conns, 300, 10000, q), "keys": pick(c.keys, 10, 100, q)}
	case "cold":
		return params{"events": pick(c.events, 20000, 1000000, q)}
	case "presence":
		return params{"members": pick(c.members, 50, 500, q), "hz": pick(c.hz, 10, 10, q), "duration": pick(c.duration, 2*time.Second, 10*time.Second, q).String()}
	}
	panic("unknown scenario " + name)
}

// result is one scenario run against one target.
type result struct {
	Scenario  string
	Target    string
	Params    params
	OpsPerS   float64
	P50, P99  float64 // ms
	Max       float64 // ms
	ServerCPU float64 // seconds
	ServerRSS int64   // bytes, at the end
	Errors    int
	Failure   string
	Extra     map[string]any
}

func (r *result) set(k string, v any) {
	if r.Extra == nil {
		r.Extra = map[string]any{}
	}
	r.Extra[k] = v
}

func (r *result) fail(format string, args ...any) {
	r.Errors++
	msg := fmt.Sprintf(format, args...)
	if r.Failure == "" {
		r.Failure = msg
	} else if strings.Count(r.Failure, ";") < 5 {
		r.Failure += "; " + msg
	}
}

func (r *result) latencies(d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	r.P50 = ms(stats.Percentile(d, 0.50))
	r.P99 = ms(stats.Percentile(d, 0.99))
	r.Max = ms(d[len(d)-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *result) object() map[string]any {
	o := map[string]any{
		"scenario": r.Scenario, "target": r.Target, "params": r.Params,
		"ops_per_s": round(r.OpsPerS, 1), "p50_ms": r.P50, "p99_ms": r.P99, "max_ms": r.Max,
		"server_cpu_s": round(r.ServerCPU, 2), "server_rss_bytes": r.ServerRSS, "errors": r.Errors,
	}
	if r.Failure != "" {
		o["failure"] = r.Failure
	}
	for k, v := range r.Extra {
		o[k] = v
	}
	return o
}

func round(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}

func writeJSON(path string, rs []*result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rs {
		if err := enc.Encode(r.object()); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// cell formats a table figure, "-" for none.
func cell(f float64, format string) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf(format, f)
}

func printTable(w io.Writer, rs []*result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\tops/s\tp50 ms\tp99 ms\tmax ms\tsrv cpu s\tsrv rss MB\terrors\t\tmore")
	for _, r := range rs {
		ks := make([]string, 0, len(r.Extra))
		for k := range r.Extra {
			if k != "per_node" { // printed by printNodes
				ks = append(ks, k)
			}
		}
		sort.Strings(ks)
		var more []string
		for _, k := range ks {
			more = append(more, fmt.Sprintf("%s=%v", k, r.Extra[k]))
		}
		name := r.Scenario
		if r.Scenario == "fanout" {
			name = fmt.Sprintf("fanout@%v", r.Params["rate"])
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t\t%s\n", name, r.Target, r.OpsPerS,
			cell(r.P50, "%.2f"), cell(r.P99, "%.2f"), cell(r.Max, "%.2f"), cell(r.ServerCPU, "%.2f"), cell(float64(r.ServerRSS)/(1<<20), "%.1f"),
			r.Errors, strings.Join(more, " "))
	}
	tw.Flush()
}

// printNodes prints each node's figures of the runs against several.
func printNodes(w io.Writer, rs []*result) {
	for _, r := range rs {
		nodes, _ := r.Extra["per_node"].([]map[string]any)
		if len(nodes) < 2 {
			continue
		}
		fmt.Fprintf(w, "\n%s %s, by node:\n", r.Scenario, r.Target)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "node\tconns\tops/s\tp50 ms\tp99 ms\tsrv cpu s\t")
		for _, n := range nodes {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t\n", n["node"], n["conns"], n["ops_per_s"], n["p50_ms"], n["p99_ms"], n["server_cpu_s"])
		}
		tw.Flush()
	}
}

// runOne starts the target (unless --url), runs the scenario, stops it.
func runOne(ctx context.Context, cfg *config, rs runSpec, kind string, stderr io.Writer) (*result, error) {
	var t *target
	var err error
	switch {
	case cfg.url != "":
		urls := strings.Split(cfg.url, ",")
		t = &target{kind: "bs", httpURL: strings.TrimRight(urls[0], "/"), key: cfg.key}
		for _, u := range urls[1:] {
			t.peers = append(t.peers, &target{kind: "bs", httpURL: strings.TrimRight(u, "/"), key: cfg.key})
		}
	case kind == "relay":
		t, err = startRelay(ctx)
	default:
		t, err = startBS(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	res := &result{Scenario: rs.name, Target: kind, Params: rs.p}
	lg := &load{cfg: cfg, t: t, res: res, stderr: stderr, run: randomHex(3)}
	switch rs.name {
	case "write":
		err = lg.write(ctx, rs.p)
	case "fanout":
		err = lg.fanout(ctx, rs.p)
	case "reconnect":
		err = lg.reconnect(ctx, rs.p)
	case "idle":
		err = lg.idle(ctx, rs.p)
	case "cold":
		err = lg.cold(ctx, rs.p)
	case "presence":
		err = lg.presence(ctx, rs.p)
	}
	if u := t.measure(); u.rss > 0 {
		res.ServerRSS = u.rss
	}
	if stopErr := t.stop(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	return res, err
}

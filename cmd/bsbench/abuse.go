package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/better-state/better-state/internal/abuse"
)

// abuseMain runs every attack of internal/abuse against a server child
// with default limits (each attack on a new child), and prints per attack
// the server's peak RSS, its live heap once the attacker left and again
// --settle later (the Go runtime collects at least every two minutes), and
// the honest client's p99. Targets (issue 12): peak RSS < 512 MiB, honest
// p99 < 50 ms, live heap --settle after the attack within 2x of the heap
// before it.
func abuseMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("abuse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small counts and a short settle: a smoke run")
	settle := fs.Duration("settle", 2*time.Minute, "how long after an attack the heap is measured again")
	only := fs.String("only", "", "run only the attacks whose names contain this")
	jsonPath := fs.String("json", "", "write one JSON object per attack to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc := abuse.Full
	if *quick {
		sc = abuse.Quick
		if !flagSet(fs, "settle") {
			*settle = 3 * time.Second
		}
	}
	ctx := context.Background()
	type row struct {
		abuse.Report
		HeapSettled uint64 `json:"heap_live_settled_bytes"`
		RSSSettled  int64  `json:"rss_settled_bytes"`
		Err         string `json:"error,omitempty"`
	}
	var rows []row
	failed := false
	for _, a := range abuse.Attacks() {
		if *only != "" && !strings.Contains(a.Name, *only) {
			continue
		}
		fmt.Fprintf(stderr, "== abuse %s\n", a.Name)
		t, tg, err := startAbuseTarget(ctx, a)
		if err != nil {
			fmt.Fprintf(stderr, "bsbench: %s: %v\n", a.Name, err)
			failed = true
			continue
		}
		r, err := abuse.Run(ctx, tg, a, sc)
		rw := row{Report: r}
		if err != nil {
			rw.Err = err.Error()
			failed = true
		} else if !a.Expected(r.Saw) {
			rw.Err = fmt.Sprintf("the attacker saw %q, want %q", r.Saw, a.Expect)
			failed = true
		}
		time.Sleep(*settle)
		rw.HeapSettled = abuse.HeapLive(ctx, tg)
		rw.RSSSettled = abuse.RSS(tg.PID)
		if err := t.stop(); err != nil {
			fmt.Fprintf(stderr, "bsbench: %s: %v\n", a.Name, err)
			failed = true
		}
		rows = append(rows, rw)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "attack\tattacker saw\tpeak rss MiB\tlive heap before KiB\tafter KiB\tsettled KiB\thonest p99 ms\thealthz p99 ms\tdb growth MiB\ttargets\t")
	for _, r := range rows {
		var miss []string
		if r.PeakRSS >= 512<<20 {
			miss = append(miss, "rss")
		}
		if r.HonestP99 >= 50*time.Millisecond {
			miss = append(miss, "p99")
		}
		// Before the first collection the live heap reads 0: the base
		// is then the heap after the attacker left.
		base := max(r.HeapBefore, r.HeapAfter/2, 1<<20)
		if r.HeapSettled > 2*base {
			miss = append(miss, "heap")
		}
		verdict := "met"
		if len(miss) > 0 {
			verdict = "missed: " + strings.Join(miss, ",")
		}
		if r.Err != "" {
			verdict = "error: " + r.Err
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s\t\n", r.Attack, r.Saw, float64(r.PeakRSS)/(1<<20),
			r.HeapBefore>>10, r.HeapAfter>>10, r.HeapSettled>>10, ms(r.HonestP99), ms(r.HealthP99), float64(r.DBGrowth)/(1<<20), verdict)
	}
	tw.Flush()
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err != nil {
			fmt.Fprintln(stderr, "bsbench:", err)
			return 1
		}
		enc := json.NewEncoder(f)
		for _, r := range rows {
			enc.Encode(r)
		}
		f.Close()
	}
	if failed {
		return 1
	}
	return 0
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// startAbuseTarget starts `bsbench serve` with default limits (plus the
// attack's flags and file limit) and makes a client-role key for the
// attacker.
func startAbuseTarget(ctx context.Context, a abuse.Attack) (*target, abuse.Target, error) {
	dir, err := os.MkdirTemp("", "bsbench-abuse-")
	if err != nil {
		return nil, abuse.Target{}, err
	}
	t := &target{kind: "bs", dir: dir, db: filepath.Join(dir, "abuse.db"), key: "bsbench-" + randomHex(8)}
	self, err := os.Executable()
	if err != nil {
		return nil, abuse.Target{}, err
	}
	out, err := exec.Command(self, "serve", "keys", "create", "--db", t.db, "--role", "client", "--actor", "attacker").Output()
	if err != nil {
		os.RemoveAll(dir)
		return nil, abuse.Target{}, fmt.Errorf("keys create: %w", err)
	}
	key := strings.TrimSpace(string(out))
	addr, err := freeAddr()
	if err != nil {
		return nil, abuse.Target{}, err
	}
	if a.FileLimit > 0 {
		t.wrap = []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", a.FileLimit, a.FileLimit)}
	}
	args := append([]string{"serve", "--addr", addr, "--db", t.db, "--dev-key", t.key, "--log-level", "warn"}, a.Flags...)
	if err := t.spawn(ctx, addr, args); err != nil {
		os.RemoveAll(dir)
		return nil, abuse.Target{}, err
	}
	return t, abuse.Target{HTTPURL: t.httpURL, Key: key, PID: t.cmd.Process.Pid, DBPath: t.db}, nil
}

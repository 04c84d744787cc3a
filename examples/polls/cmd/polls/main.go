// Command polls is the command-line client of the polls example. It works
// offline: a vote made while the server is away is queued in --dir and
// delivered by the next run that reaches the server.
//
//	polls [flags] setup QUESTION OPTION OPTION...
//	polls [flags] vote N          vote for option N (voting again moves the vote)
//	polls [flags] close
//	polls [flags] show
//	polls [flags] watch           print each new state until interrupted
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/runtime/client"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("BS_URL", "ws://127.0.0.1:8080/v1/ws"), "server WebSocket URL (env BS_URL)")
	key := fs.String("key", os.Getenv("BS_KEY"), "API key (env BS_KEY)")
	dir := fs.String("dir", ".polls", "where this client keeps its queue and last state")
	poll := fs.String("poll", "main", "the poll's key")
	wait := fs.Duration("wait", 3*time.Second, "how long to wait for the server")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: polls [flags] setup QUESTION OPTION OPTION... | vote N | close | show | watch")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	c, err := client.Dial(context.Background(), *url, client.Options{
		APIKey: *key, Dir: *dir,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnReject: func(r client.Rejection) {
			fmt.Fprintf(stderr, "the server refused %s: %s (%s)\n", r.Action, r.Message, r.Code)
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer c.Close()
	p, err := polls.OpenPoll(c, *poll)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Catch up first when the server is reachable, so the action applies to
	// the latest state; offline, it applies to what this client last saw.
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	online := c.WaitSynced(ctx) == nil
	switch cmd {
	case "setup":
		if len(rest) < 1 {
			fs.Usage()
			return 2
		}
		err = p.Setup(rest[0], rest[1:])
	case "vote":
		if len(rest) != 1 {
			fs.Usage()
			return 2
		}
		n, convErr := strconv.Atoi(rest[0])
		if convErr != nil {
			fmt.Fprintf(stderr, "vote takes an option number, not %q\n", rest[0])
			return 2
		}
		err = p.Vote(n)
	case "close":
		err = p.Close()
	case "show":
	case "watch":
		return watch(p, stdout)
	default:
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if !online {
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
	}
	if err := c.WaitSynced(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			show(stdout, p.Get())
			fmt.Fprintf(stdout, "(offline: %d change(s) queued; they will be sent on the next run that reaches the server)\n", c.Status().Pending[*poll])
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	show(stdout, p.Get())
	return 0
}

func show(w io.Writer, p polls.Poll) {
	if p.Question == "" {
		fmt.Fprintln(w, "(no poll yet: use setup)")
		return
	}
	state := "open"
	if p.Closed {
		state = "closed"
	}
	fmt.Fprintf(w, "%s (%s)\n", p.Question, state)
	tally := p.Tally()
	for i, o := range p.Options {
		fmt.Fprintf(w, "  %d. %s: %d\n", i, o, tally[i])
	}
}

func watch(p *polls.PollStore, w io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	views := make(chan polls.Poll, 1)
	cancel := p.Subscribe(func(v polls.Poll) {
		select {
		case views <- v:
		case <-ctx.Done():
		}
	})
	defer cancel()
	for {
		select {
		case v := <-views:
			fmt.Fprintf(w, "--- %s\n", time.Now().Format(time.TimeOnly))
			show(w, v)
		case <-ctx.Done():
			return 0
		}
	}
}

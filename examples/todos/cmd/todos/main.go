// Command todos is the command-line client of the todos example. It works
// offline: a change made while the server is away is queued in --dir and
// delivered by the next run that reaches the server.
//
//	todos [flags] add TITLE...   add a todo
//	todos [flags] list           print the list
//	todos [flags] done ID        toggle a todo between done and not done
//	todos [flags] rename ID TITLE
//	todos [flags] rm ID
//	todos [flags] clear          remove the done todos
//	todos [flags] watch          print each new state until interrupted
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
	"strings"
	"time"

	"github.com/better-state/better-state/examples/todos"
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
	fs := flag.NewFlagSet("todos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("BS_URL", "ws://127.0.0.1:8080/v1/ws"), "server WebSocket URL (env BS_URL)")
	key := fs.String("key", os.Getenv("BS_KEY"), "API key (env BS_KEY)")
	dir := fs.String("dir", ".todos", "where this client keeps its queue and last state")
	list := fs.String("list", "main", "the list's key")
	wait := fs.Duration("wait", 3*time.Second, "how long to wait for the server")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: todos [flags] add TITLE... | list | done ID | rename ID TITLE | rm ID | clear | watch")
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
	l, err := todos.OpenList(c, *list)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	need := func(n int) bool {
		if len(rest) < n {
			fs.Usage()
			return false
		}
		return true
	}
	// Catch up first when the server is reachable, so the action applies to
	// the latest state; offline, it applies to what this client last saw.
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	online := c.WaitSynced(ctx) == nil
	switch cmd {
	case "add":
		if !need(1) {
			return 2
		}
		err = l.Add(strings.Join(rest, " "))
	case "done":
		if !need(1) {
			return 2
		}
		err = l.Toggle(rest[0])
	case "rename":
		if !need(2) {
			return 2
		}
		err = l.Rename(rest[0], strings.Join(rest[1:], " "))
	case "rm":
		if !need(1) {
			return 2
		}
		err = l.Remove(rest[0])
	case "clear":
		err = l.ClearDone()
	case "list":
	case "watch":
		return watch(l, stdout)
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
			n := c.Status().Pending[*list]
			print(stdout, l.Get())
			fmt.Fprintf(stdout, "(offline: %d change(s) queued; they will be sent on the next run that reaches the server)\n", n)
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	print(stdout, l.Get())
	return 0
}

func print(w io.Writer, l todos.List) {
	if len(l.Items) == 0 {
		fmt.Fprintln(w, "(no todos)")
	}
	for _, it := range l.Items {
		mark := " "
		if it.Done {
			mark = "x"
		}
		fmt.Fprintf(w, "[%s] %s  %s\n", mark, it.ID, it.Title)
	}
}

func watch(l *todos.ListStore, w io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	views := make(chan todos.List, 1)
	cancel := l.Subscribe(func(v todos.List) {
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
			print(w, v)
		case <-ctx.Done():
			return 0
		}
	}
}

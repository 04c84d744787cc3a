// Package cli runs a command-line client of one key of one state type: the
// flags every such client has (--url, --key, --dir, --wait, and the key's
// own flag), dialing, catching up, one subcommand, waiting for the server,
// and exit statuses that a script can rely on:
//
//	0  done, or done offline: the change is queued in --dir and sent by the
//	   next run that reaches the server
//	1  an error: the action or the server refused this run's change, or
//	   the server refuses this client (wrong or revoked key, a type it does
//	   not serve, a schema it cannot serve); the reason is printed
//	2  bad usage (arguments, flags, an unusable --url)
//
// The examples' commands are built on it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/contract"
)

// App describes a command-line client of state type S.
type App[S any] struct {
	Name    string         // the command's name, e.g. "todos"
	Type    *contract.Type // S's descriptor, e.g. todos.ListType
	KeyFlag string         // the flag naming the key, e.g. "list" (its default is "main")
	// Commands are the subcommands besides "watch", which every app has.
	Commands []Command[S]
	// Print writes a view for people.
	Print func(w io.Writer, v S)
	// Watch, if set, runs beside "watch" while it prints the states, with
	// this client's --name: ShowPresence makes one that sets this
	// client's presence and prints who else is there. It returns a
	// function that stops it.
	Watch func(s *client.Typed[S], w io.Writer, name string) (stop func())
}

// Command is one subcommand.
type Command[S any] struct {
	Name string // e.g. "add"
	Args string // its arguments for the usage line, e.g. "TITLE..."
	// MinArgs is how many arguments it needs at least.
	MinArgs int
	// Do makes the change; nil for a command that only prints the view.
	// It returns a UsageError for arguments it cannot use.
	Do func(s *client.Typed[S], args []string) error
}

// UsageError is an argument a command cannot use: exit status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (a *App[S]) usage() string {
	parts := make([]string, 0, len(a.Commands)+1)
	for _, c := range a.Commands {
		parts = append(parts, strings.TrimSpace(c.Name+" "+c.Args))
	}
	parts = append(parts, "watch")
	return fmt.Sprintf("usage: %s [flags] %s", a.Name, strings.Join(parts, " | "))
}

// Run runs the command line args (without the program name) and returns
// the exit status.
func (a *App[S]) Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(a.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("BS_URL", "ws://127.0.0.1:8080/v1/ws"), "server WebSocket URL (env BS_URL)")
	key := fs.String("key", os.Getenv("BS_KEY"), "API key (env BS_KEY)")
	dir := fs.String("dir", "."+a.Name, "where this client keeps its queue and last state")
	name := fs.String(a.KeyFlag, "main", "the key of the "+a.Type.Name+" to use")
	wait := fs.Duration("wait", 3*time.Second, "how long to wait for the server")
	who := fs.String("name", envOr("USER", "someone"), "who you are to the others on the key (watch)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, a.usage())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	verb, rest := fs.Arg(0), fs.Args()[1:]
	i := slices.IndexFunc(a.Commands, func(c Command[S]) bool { return c.Name == verb })
	if i < 0 && verb != "watch" {
		fmt.Fprintf(stderr, "%s: no subcommand %q\n", a.Name, verb)
		fs.Usage()
		return 2
	}
	if i >= 0 && len(rest) < a.Commands[i].MinArgs {
		fmt.Fprintf(stderr, "%s %s needs %s\n", a.Name, verb, a.Commands[i].Args)
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	// mine is the mid of this run's change (0 before it is made): its
	// refusal makes the run fail; a refusal of a change queued by an
	// earlier run is reported, and the run goes on.
	var mine atomic.Uint64
	var refusedMine atomic.Bool
	c, err := client.New(*url, client.Options{
		APIKey: *key, Dir: *dir,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnReject: func(r client.Rejection) {
			fmt.Fprintf(stderr, "the server refused %s: %s (%s)\n", r.Action, r.Message, r.Code)
			if r.Key == *name && r.Mid != 0 && r.Mid == mine.Load() {
				refusedMine.Store(true)
			}
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", a.Name, err)
		return 2 // only unusable options (a bad --url) fail here
	}
	defer c.Close()
	s, err := client.Open[S](c, a.Type, *name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", a.Name, err)
		return 1
	}
	// Catch up first when the server is reachable, so the change applies
	// to the latest state; offline, it applies to what this client last saw.
	err = c.WaitSynced(ctx)
	if refused(err) {
		return a.fail(stderr, err)
	}
	online := err == nil
	if verb == "watch" {
		return a.watch(s, stdout, *who)
	}
	if do := a.Commands[i].Do; do != nil {
		before := s.Store().LastMutation()
		err := do(s, rest)
		if last := s.Store().LastMutation(); err == nil && last != before {
			mine.Store(last)
		}
		if err != nil {
			var u *UsageError
			if errors.As(err, &u) {
				fmt.Fprintf(stderr, "%s %s: %v\n", a.Name, verb, err)
				return 2
			}
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if !online {
		// Give a server that came back a moment, not the whole --wait.
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
	}
	if err := c.WaitSynced(ctx); err != nil {
		if refused(err) {
			return a.fail(stderr, err)
		}
		a.Print(stdout, s.Get())
		fmt.Fprintf(stdout, "(offline: %d change(s) queued; they will be sent on the next run that reaches the server)\n", s.Store().Pending())
		return 0
	}
	a.Print(stdout, s.Get())
	if refusedMine.Load() {
		return 1 // the server refused this run's change (its reason is above)
	}
	return 0
}

// refused reports whether err is the server refusing this client, rather
// than the server being out of reach.
func refused(err error) bool {
	return err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

func (a *App[S]) fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", a.Name, err)
	return 1
}

func (a *App[S]) watch(s *client.Typed[S], out io.Writer, who string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := &lockedWriter{w: out}
	if a.Watch != nil {
		defer a.Watch(s, w, who)()
	}
	views := make(chan S, 1)
	cancel := s.Subscribe(func(v S) {
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
			a.Print(w, v)
		case <-ctx.Done():
			return 0
		}
	}
}

// lockedWriter serializes the writes of watch and of App.Watch.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// ShowPresence returns an App.Watch for S's presence type P: it sets this
// client's presence to me(name), and prints "LABEL: ann (you), bob" each
// time the members change, naming each by nameOf.
func ShowPresence[P contract.PresenceOf[S], S any](label string, me func(name string) P, nameOf func(P) string) func(*client.Typed[S], io.Writer, string) func() {
	return func(s *client.Typed[S], w io.Writer, name string) func() {
		p := client.PresenceOf[P](s)
		if err := p.Set(me(name)); err != nil {
			fmt.Fprintf(w, "(presence: %v)\n", err)
		}
		return p.Subscribe(func(ms []client.Member[P]) {
			names := make([]string, 0, len(ms))
			for _, m := range ms {
				n := nameOf(m.Value)
				if m.Self {
					n += " (you)"
				}
				names = append(names, n)
			}
			if len(names) == 0 {
				names = append(names, "nobody yet")
			}
			fmt.Fprintf(w, "%s: %s\n", label, strings.Join(names, ", "))
		})
	}
}

// Command counter is the command-line client of the counter app.
//
//	counter [flags] add N        add N (an integer, not zero)
//	counter [flags] reset        set the counter back to zero
//	counter [flags] show         print the counter
//	counter [flags] watch        print each new value, and who else is there, until interrupted
//
// Flags: --url (env BS_URL), --key (env BS_KEY), --dir, --counter, --wait,
// --name (who you are to the others; env USER).
// It exits 1 with the server's reason when the server refuses it.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/client/cli"
)

type store = client.Typed[counter.Counter]

var app = &cli.App[counter.Counter]{
	Name: "counter", Type: counter.CounterType, KeyFlag: "counter", Print: show,
	Watch: cli.ShowPresence[counter.Viewer, counter.Counter]("here",
		func(name string) counter.Viewer { return counter.Viewer{Name: name} },
		func(v counter.Viewer) string { return v.Name }),
	Commands: []cli.Command[counter.Counter]{
		{Name: "add", Args: "N", MinArgs: 1, Do: func(s *store, a []string) error {
			n, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil {
				return cli.Usagef("N must be an integer, not %q", a[0])
			}
			return s.Mutate(counter.CounterAddArgs{N: n})
		}},
		{Name: "reset", Do: func(s *store, a []string) error {
			return s.Mutate(counter.CounterResetArgs{})
		}},
		{Name: "show"},
	},
}

func main() { os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr)) }

func show(w io.Writer, v counter.Counter) {
	fmt.Fprintf(w, "%d (changes: %d, last by %q)\n", v.N, v.Changes, v.LastBy)
}

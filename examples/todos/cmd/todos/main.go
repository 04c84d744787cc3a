// Command todos is the command-line client of the todos example. It works
// offline: a change made while the server is away is queued in --dir and
// delivered by the next run that reaches the server.
//
//	todos [flags] add TITLE...   add a todo
//	todos [flags] list           print the list
//	todos [flags] done ID        toggle a todo between done and not done
//	todos [flags] rename ID TITLE...
//	todos [flags] rm ID
//	todos [flags] clear          remove the done todos
//	todos [flags] share ACTOR    make the list members-only and add ACTOR (the owner only, after the first)
//	todos [flags] unshare ACTOR
//	todos [flags] watch          print each new state, and who else is watching, until interrupted
//
// Flags: --url (env BS_URL), --key (env BS_KEY), --dir, --list, --wait,
// --name (who you are to the others; env USER).
// It exits 1 with the server's reason when the server refuses it.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/client/cli"
)

type list = client.Typed[todos.List]

var app = &cli.App[todos.List]{
	Name: "todos", Type: todos.ListType, KeyFlag: "list", Print: print,
	Watch: cli.ShowPresence[todos.Watcher, todos.List]("watching",
		func(name string) todos.Watcher { return todos.Watcher{Name: name} },
		func(w todos.Watcher) string { return w.Name }),
	Commands: []cli.Command[todos.List]{
		{Name: "add", Args: "TITLE...", MinArgs: 1, Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListAddArgs{Title: strings.Join(a, " ")})
		}},
		{Name: "list"},
		{Name: "done", Args: "ID", MinArgs: 1, Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListToggleArgs{ID: a[0]})
		}},
		{Name: "rename", Args: "ID TITLE...", MinArgs: 2, Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListRenameArgs{ID: a[0], Title: strings.Join(a[1:], " ")})
		}},
		{Name: "rm", Args: "ID", MinArgs: 1, Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListRemoveArgs{ID: a[0]})
		}},
		{Name: "clear", Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListClearDoneArgs{})
		}},
		{Name: "share", Args: "ACTOR", MinArgs: 1, Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListShareArgs{Actor: a[0]})
		}},
		{Name: "unshare", Args: "ACTOR", MinArgs: 1, Do: func(l *list, a []string) error {
			return l.Mutate(todos.ListUnshareArgs{Actor: a[0]})
		}},
	},
}

func main() { os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr)) }

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

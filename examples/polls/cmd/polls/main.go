// Command polls is the command-line client of the polls example. It works
// offline: a vote made while the server is away is queued in --dir and
// delivered by the next run that reaches the server.
//
//	polls [flags] setup QUESTION OPTION OPTION...
//	polls [flags] vote N          vote for option N (voting again moves the vote)
//	polls [flags] close
//	polls [flags] show
//	polls [flags] watch           print each new state, and who is voting, until interrupted
//
// Flags: --url (env BS_URL), --key (env BS_KEY), --dir, --poll, --wait,
// --name (who you are to the others; env USER).
// It exits 1 with the server's reason when the server refuses it.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/client/cli"
)

type poll = client.Typed[polls.Poll]

var app = &cli.App[polls.Poll]{
	Name: "polls", Type: polls.PollType, KeyFlag: "poll", Print: show,
	Watch: cli.ShowPresence[polls.Voter, polls.Poll]("voting",
		func(name string) polls.Voter { return polls.Voter{Name: name} },
		func(v polls.Voter) string { return v.Name }),
	Commands: []cli.Command[polls.Poll]{
		{Name: "setup", Args: "QUESTION OPTION OPTION...", MinArgs: 1, Do: func(p *poll, a []string) error {
			return p.Mutate(polls.PollSetupArgs{Question: a[0], Options: a[1:]})
		}},
		{Name: "vote", Args: "N", MinArgs: 1, Do: func(p *poll, a []string) error {
			n, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil {
				return cli.Usagef("vote takes an option number, not %q", a[0])
			}
			return p.Mutate(polls.PollVoteArgs{Option: n})
		}},
		{Name: "close", Do: func(p *poll, a []string) error {
			return p.Mutate(polls.PollCloseArgs{})
		}},
		{Name: "show"},
	},
}

func main() { os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr)) }

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

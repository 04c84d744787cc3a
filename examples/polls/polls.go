// Package polls is the state of a shared poll: a question, its options, and
// one vote per actor.
//
// It is a Better-State schema package. bsgen turns it into typed stores,
// action envelopes and the server registration in polls_bs.go.
package polls

//go:generate go tool bsgen -server ./cmd/polls-server

import (
	"strings"

	"github.com/better-state/better-state/schema"
)

// Poll is one poll, of at most 1 MiB (a limit of this type, below the
// server's --max-state).
//
//bs:state maxstate=1MiB
type Poll struct {
	Question string           `json:"question"`
	Options  []string         `json:"options"`
	Votes    map[string]int64 `json:"votes"` // actor -> option index
	Closed   bool             `json:"closed"`
}

// Voter is what each client on a poll says about itself, in memory only
// (presence): `polls watch` shows who is voting.
//
//bs:presence Poll
type Voter struct {
	Name string `json:"name"`
}

// Setup sets the question and the options. It is refused once votes exist.
// Its arguments are at most 16 KiB.
//
//bs:maxargs 16KiB
func (p *Poll) Setup(ctx schema.Ctx, question string, options []string) error {
	if p.Closed {
		return schema.Reject("closed", "the poll is closed")
	}
	if len(p.Votes) > 0 {
		return schema.Reject("has_votes", "a poll with votes cannot be set up again")
	}
	question = strings.TrimSpace(question)
	if question == "" {
		return schema.Reject("empty_question", "a poll needs a question")
	}
	if len(options) < 2 {
		return schema.Reject("too_few_options", "a poll needs at least two options")
	}
	p.Question = question
	p.Options = append([]string(nil), options...)
	return nil
}

// Vote records the actor's vote; voting again moves the vote.
func (p *Poll) Vote(ctx schema.Ctx, option int64) error {
	if p.Closed {
		return schema.Reject("closed", "the poll is closed")
	}
	if option < 0 || option >= int64(len(p.Options)) {
		return schema.Reject("no_such_option", "no such option")
	}
	if p.Votes == nil {
		p.Votes = map[string]int64{}
	}
	p.Votes[ctx.Actor()] = option
	return nil
}

// Close ends the poll: no more votes.
func (p *Poll) Close(ctx schema.Ctx) error {
	if p.Closed {
		return schema.Reject("closed", "the poll is closed")
	}
	p.Closed = true
	return nil
}

// Tally returns the number of votes per option. It is a helper, not an
// action: it has no Ctx parameter.
func (p *Poll) Tally() []int {
	n := make([]int, len(p.Options))
	for _, o := range p.Votes {
		if o >= 0 && o < int64(len(n)) {
			n[o]++
		}
	}
	return n
}

package polls

import (
	"reflect"
	"testing"

	"github.com/better-state/better-state/internal/gen/gentest"
	"github.com/better-state/better-state/schema"
)

func sample() *Poll {
	return &Poll{Question: "lunch?", Options: []string{"pizza", "salad"}, Votes: map[string]int64{"bob": 1}}
}

func fresh() *Poll { return &Poll{} }

// TestEnvelopeMatchesDirect applies every action through its JSON envelope
// and the generated dispatcher, and by calling the method: the states (and
// refusals) must be identical.
func TestEnvelopeMatchesDirect(t *testing.T) {
	opts := []string{"yes", "no", "maybe"}
	gentest.AssertEnvelopeMatchesDirect(t, PollType, fresh, []gentest.Case[Poll]{
		gentest.Act("Setup", PollSetupArgs{Question: " q ", Options: opts}, func(p *Poll, c schema.Ctx) error { return p.Setup(c, " q ", opts) }),
		gentest.Act("Setup", PollSetupArgs{Question: "q", Options: opts[:1]}, func(p *Poll, c schema.Ctx) error { return p.Setup(c, "q", opts[:1]) }),
		gentest.Act("Vote", PollVoteArgs{Option: 0}, func(p *Poll, c schema.Ctx) error { return p.Vote(c, 0) }),
		gentest.Act("Close", PollCloseArgs{}, func(p *Poll, c schema.Ctx) error { return p.Close(c) }),
	})
	gentest.AssertEnvelopeMatchesDirect(t, PollType, sample, []gentest.Case[Poll]{
		gentest.Act("Setup", PollSetupArgs{Question: "q", Options: opts}, func(p *Poll, c schema.Ctx) error { return p.Setup(c, "q", opts) }),
		gentest.Act("Vote", PollVoteArgs{Option: 1}, func(p *Poll, c schema.Ctx) error { return p.Vote(c, 1) }),
		gentest.Act("Vote", PollVoteArgs{Option: 7}, func(p *Poll, c schema.Ctx) error { return p.Vote(c, 7) }),
		gentest.Act("Close", PollCloseArgs{}, func(p *Poll, c schema.Ctx) error { return p.Close(c) }),
	})
}

// TestCloneSharesNoMemory checks that ClonePoll copies the options and the
// votes: changing one poll never changes the other.
func TestCloneSharesNoMemory(t *testing.T) {
	orig := sample()
	clone := ClonePoll(orig)
	if !reflect.DeepEqual(orig, clone) {
		t.Fatalf("clone %+v differs from %+v", clone, orig)
	}
	gentest.AssertDisjoint(t, orig, clone)
	clone.Options[0] = "changed"
	clone.Votes["bob"] = 0
	clone.Votes["carol"] = 1
	if !reflect.DeepEqual(orig, sample()) {
		t.Fatalf("changing the clone changed the original: %+v", orig)
	}
	if err := PollType.Apply(clone, gentest.Ctx(1), "Vote", []byte(`{"option":0}`)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(orig, sample()) {
		t.Fatalf("an action on the clone changed the original: %+v", orig)
	}
}

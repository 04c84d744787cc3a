package schema_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/better-state/better-state/schema"
)

func meta(mid uint64) schema.Meta {
	return schema.Meta{Key: "k", Client: "c1", Mid: mid, Actor: "ann", Time: time.UnixMilli(1700000000000).UTC()}
}

// Two replicas applying the same mutation get the same ids and the same
// random numbers; another mutation gets others.
func TestCtxIsDeterministicPerMutation(t *testing.T) {
	a, b := schema.NewContext(meta(7)), schema.NewContext(meta(7))
	for i := 0; i < 3; i++ {
		if x, y := a.NewID(), b.NewID(); x != y || len(x) != 16 {
			t.Fatalf("id %d: %q vs %q", i, x, y)
		}
	}
	if x, y := a.Rand().Uint64(), b.Rand().Uint64(); x != y {
		t.Fatalf("rand %d vs %d", x, y)
	}
	c := schema.NewContext(meta(8))
	d := schema.NewContext(meta(7))
	if c.NewID() == d.NewID() {
		t.Fatal("different mutations made the same id")
	}
	if a.Actor() != "ann" || a.Client() != "c1" || a.MutationID() != 7 || !a.Time().Equal(time.UnixMilli(1700000000000)) {
		t.Fatalf("ctx fields: %v %v %v %v", a.Actor(), a.Client(), a.MutationID(), a.Time())
	}
}

func TestRejectCarriesCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", schema.Reject("empty_title", "a todo needs a title"))
	r, ok := schema.AsRejection(err)
	if !ok || r.Code != "empty_title" || r.Message != "a todo needs a title" {
		t.Fatalf("%v %v", r, ok)
	}
	if _, ok := schema.AsRejection(errors.New("plain")); ok {
		t.Fatal("plain error taken for a rejection")
	}
}

// Writes without a client (REST without "client") must not share an
// identity: each takes it from its place in the log.
func TestIdentityWithoutClientComesFromTheLog(t *testing.T) {
	id := func(epoch string, seq uint64) string {
		return schema.NewContext(schema.Meta{Key: "k", Epoch: epoch, Seq: seq}).NewID()
	}
	if id("e1", 1) == id("e1", 2) || id("e1", 1) == id("e2", 1) {
		t.Fatal("writes without a client at different log positions got the same id")
	}
	if first, again := id("e1", 1), id("e1", 1); first != again {
		t.Fatal("the same log position gave different ids")
	}
	withClient := schema.NewContext(schema.Meta{Key: "k", Client: "c", Mid: 1, Epoch: "e1", Seq: 1}).NewID()
	otherSeq := schema.NewContext(schema.Meta{Key: "k", Client: "c", Mid: 1, Epoch: "e1", Seq: 9}).NewID()
	if withClient != otherSeq {
		t.Fatal("a client's mutation must keep the id it had while optimistic, whatever seq it lands at")
	}
}

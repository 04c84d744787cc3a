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

package todos

import (
	"reflect"
	"testing"

	"github.com/better-state/better-state/internal/gen/gentest"
	"github.com/better-state/better-state/schema"
)

func sample() *List {
	return &List{Items: []Item{
		{ID: "a", Title: "milk"},
		{ID: "b", Title: "eggs", Done: true},
		{ID: "c", Title: "bread"},
	}}
}

// TestEnvelopeMatchesDirect applies every action through its JSON envelope
// and the generated dispatcher, and by calling the method: the states (and
// refusals) must be identical.
func TestEnvelopeMatchesDirect(t *testing.T) {
	gentest.AssertEnvelopeMatchesDirect(t, ListType, sample, []gentest.Case[List]{
		gentest.Act("Add", ListAddArgs{Title: " tea "}, func(l *List, c schema.Ctx) error { return l.Add(c, " tea ") }),
		gentest.Act("Add", ListAddArgs{Title: "  "}, func(l *List, c schema.Ctx) error { return l.Add(c, "  ") }),
		gentest.Act("Toggle", ListToggleArgs{ID: "a"}, func(l *List, c schema.Ctx) error { return l.Toggle(c, "a") }),
		gentest.Act("Toggle", ListToggleArgs{ID: "zz"}, func(l *List, c schema.Ctx) error { return l.Toggle(c, "zz") }),
		gentest.Act("Rename", ListRenameArgs{ID: "b", Title: "brown eggs"}, func(l *List, c schema.Ctx) error { return l.Rename(c, "b", "brown eggs") }),
		gentest.Act("Rename", ListRenameArgs{ID: "b"}, func(l *List, c schema.Ctx) error { return l.Rename(c, "b", "") }),
		gentest.Act("Remove", ListRemoveArgs{ID: "c"}, func(l *List, c schema.Ctx) error { return l.Remove(c, "c") }),
		gentest.Act("Remove", ListRemoveArgs{ID: "zz"}, func(l *List, c schema.Ctx) error { return l.Remove(c, "zz") }),
		gentest.Act("ClearDone", ListClearDoneArgs{}, func(l *List, c schema.Ctx) error { return l.ClearDone(c) }),
		gentest.Act("Share", ListShareArgs{Actor: "bob"}, func(l *List, c schema.Ctx) error { return l.Share(c, "bob") }),
		gentest.Act("Share", ListShareArgs{Actor: " "}, func(l *List, c schema.Ctx) error { return l.Share(c, " ") }),
		gentest.Act("Unshare", ListUnshareArgs{Actor: "bob"}, func(l *List, c schema.Ctx) error { return l.Unshare(c, "bob") }),
	})
}

// TestCloneSharesNoMemory checks that CloneList copies the items: changing
// one list never changes the other.
func TestCloneSharesNoMemory(t *testing.T) {
	orig := sample()
	clone := CloneList(orig)
	if !reflect.DeepEqual(orig, clone) {
		t.Fatalf("clone %+v differs from %+v", clone, orig)
	}
	gentest.AssertDisjoint(t, orig, clone)
	clone.Items[0].Title = "changed"
	clone.Items = append(clone.Items[:1], clone.Items[2:]...) // in place
	if !reflect.DeepEqual(orig, sample()) {
		t.Fatalf("changing the clone changed the original: %+v", orig)
	}
	// The reducer's in-place edits (Remove, ClearDone reuse the backing
	// array) on a clone leave the original alone.
	orig = sample()
	clone = ListType.Clone(orig).(*List)
	if err := ListType.Apply(clone, gentest.Ctx(1), "ClearDone", nil); err != nil {
		t.Fatal(err)
	}
	if err := ListType.Apply(clone, gentest.Ctx(2), "Remove", []byte(`{"id":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(orig, sample()) {
		t.Fatalf("actions on the clone changed the original: %+v", orig)
	}
}

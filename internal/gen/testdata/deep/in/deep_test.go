package deep

// This test runs on the generated code: the golden test copies this
// package and its wanted deep_bs.go into a build directory and runs it.

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/gen/gentest"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/schema"
)

func full() *Board {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	friend := &Person{Name: "bob", Emails: []string{"b@x"}, Meta: map[string]string{"k": "v"}, Born: at}
	alice := Person{Name: "alice", Emails: []string{"a@x", "a@y"}, Friend: friend, Meta: map[string]string{"role": "admin"}, Born: at}
	b := &Board{
		Title:    "t",
		Tags:     []string{"one", "two"},
		Counts:   map[string]int{"a": 1},
		Owner:    &Person{Name: "owner", Emails: []string{"o@x"}, Friend: &Person{Name: "of", Emails: []string{"of@x"}}, Meta: map[string]string{"m": "n"}},
		People:   []Person{alice},
		Refs:     []*Person{{Name: "ref", Emails: []string{"r@x"}, Friend: &Person{Name: "rf"}}, nil},
		ByTeam:   map[string][]Person{"red": {{Name: "carol", Emails: []string{"c@x"}, Meta: map[string]string{"x": "y"}}}},
		Nested:   map[string]map[string][]int{"a": {"b": {1, 2}}},
		Grid:     [2][]int{{1, 2}, {3}},
		Fixed:    [3]int{1, 2, 3},
		Labels:   Labels{"l1"},
		Index:    Index{"k": Labels{"i1", "i2"}},
		Root:     &Node{Value: 1, Children: []*Node{{Value: 2, Children: []*Node{{Value: 3}}}}},
		Pair:     Pair[[]string]{Left: []string{"L"}, Right: []string{"R"}},
		When:     at,
		Deadline: &at,
		Raw:      json.RawMessage(`{"x":1}`),
		Embedded: Embedded{Extra: []byte("extra")},
		hidden:   []int{7},
	}
	b.Anon.Notes = []string{"note"}
	b.Anon.Level = 2
	return b
}

// mutate writes through every reference b holds.
func mutate(b *Board) {
	b.Title = "changed"
	b.Tags[0] = "X"
	b.Counts["a"] = 99
	b.Owner.Name = "X"
	b.Owner.Emails[0] = "X"
	b.Owner.Friend.Name = "X"
	b.Owner.Friend.Emails[0] = "X"
	b.Owner.Meta["m"] = "X"
	b.People[0].Emails[1] = "X"
	b.People[0].Friend.Emails[0] = "X"
	b.People[0].Friend.Meta["k"] = "X"
	b.People[0].Meta["role"] = "X"
	b.Refs[0].Name = "X"
	b.Refs[0].Emails[0] = "X"
	b.Refs[0].Friend.Name = "X"
	b.ByTeam["red"][0].Name = "X"
	b.ByTeam["red"][0].Emails[0] = "X"
	b.ByTeam["red"][0].Meta["x"] = "X"
	b.Nested["a"]["b"][0] = 99
	b.Nested["a"]["new"] = nil
	b.Grid[0][0] = 99
	b.Fixed[0] = 99
	b.Labels[0] = "X"
	b.Index["k"][1] = "X"
	b.Root.Value = 99
	b.Root.Children[0].Value = 99
	b.Root.Children[0].Children[0].Value = 99
	b.Pair.Left[0] = "X"
	b.Pair.Right[0] = "X"
	*b.Deadline = b.Deadline.Add(time.Hour)
	b.Raw[2] = 'y'
	b.Anon.Notes[0] = "X"
	b.Extra[0] = 'X'
	b.hidden[0] = 99
}

func TestCloneSharesNoMemory(t *testing.T) {
	orig := full()
	clone := CloneBoard(orig)
	if !reflect.DeepEqual(orig, clone) {
		t.Fatalf("clone differs:\n%+v\n%+v", orig, clone)
	}
	gentest.AssertDisjoint(t, orig, clone)

	mutate(clone)
	if !reflect.DeepEqual(orig, full()) {
		t.Errorf("mutating the clone changed the original:\n%+v", orig)
	}
	orig2 := full()
	clone2 := CloneBoard(orig2)
	mutate(orig2)
	if !reflect.DeepEqual(clone2, full()) {
		t.Errorf("mutating the original changed the clone:\n%+v", clone2)
	}
}

func TestCloneKeepsNilAndEmpty(t *testing.T) {
	if CloneBoard(nil) != nil {
		t.Fatal("CloneBoard(nil) != nil")
	}
	z := &Board{}
	if c := CloneBoard(z); !reflect.DeepEqual(c, z) || c.Tags != nil || c.Counts != nil {
		t.Fatalf("zero board cloned as %+v", c)
	}
	e := &Board{Tags: []string{}, Counts: map[string]int{}}
	if c := CloneBoard(e); c.Tags == nil || c.Counts == nil {
		t.Fatalf("empty slices and maps must stay non-nil: %+v", c)
	}
	if got := BoardType.Clone(full()).(*Board); !reflect.DeepEqual(got, full()) {
		t.Fatal("BoardType.Clone is not CloneBoard")
	}
}

func TestEnvelopeMatchesDirect(t *testing.T) {
	home := "https://example.com"
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Person{Name: "dan", Emails: []string{"d@x"}, Friend: &Person{Name: "erin"}}
	gentest.AssertEnvelopeMatchesDirect(t, BoardType, full, []gentest.Case[Board]{
		gentest.Act("SetTitle", BoardSetTitleArgs{Title: "new"}, func(b *Board, c schema.Ctx) error { return b.SetTitle(c, "new") }),
		gentest.Act("SetTitle", BoardSetTitleArgs{}, func(b *Board, c schema.Ctx) error { return b.SetTitle(c, "") }),
		gentest.Act("Tag", BoardTagArgs{Tags: []string{"x", "y"}}, func(b *Board, c schema.Ctx) error { return b.Tag(c, "x", "y") }),
		gentest.Act("Tag", BoardTagArgs{}, func(b *Board, c schema.Ctx) error { return b.Tag(c) }),
		gentest.Act("AddPerson", BoardAddPersonArgs{TeamID: "blue", P: p, HomeURL: &home}, func(b *Board, c schema.Ctx) error { return b.AddPerson(c, "blue", p, &home) }),
		gentest.Act("AddPerson", BoardAddPersonArgs{TeamID: "red", P: p}, func(b *Board, c schema.Ctx) error { return b.AddPerson(c, "red", p, nil) }),
		gentest.Act("Count", BoardCountArgs{Deltas: map[string]int{"a": 2, "b": 3}, At: at, Grid: [2][]int{{5}, nil}}, func(b *Board, c schema.Ctx) error {
			return b.Count(c, map[string]int{"a": 2, "b": 3}, at, [2][]int{{5}, nil})
		}),
		gentest.Act("Grow", BoardGrowArgs{Value: 5}, func(b *Board, c schema.Ctx) error { return b.Grow(c, 5) }),
		gentest.Act("Explode", BoardExplodeArgs{}, func(b *Board, c schema.Ctx) (err error) {
			defer func() {
				if recover() != nil {
					err = contract.Errorf(contract.CodeActionPanic, "panicked")
				}
			}()
			return b.Explode(c)
		}),
	})
}

func TestEnvelopeJSONNames(t *testing.T) {
	u := "u"
	b, err := json.Marshal(BoardAddPersonArgs{TeamID: "t", HomeURL: &u})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"homeURL", "p", "teamID"}; !slices.Equal(keys, want) {
		t.Fatalf("envelope JSON keys %v, want %v (the parameter names)", keys, want)
	}
}

func TestDispatchErrors(t *testing.T) {
	for _, tc := range []struct {
		action, args, code string
	}{
		{"Nope", `{}`, contract.CodeUnknownAction},
		{"setTitle", `{}`, contract.CodeUnknownAction},
		{"SetTitle", `{"title": 5}`, contract.CodeBadArgs},
		{"SetTitle", `{"title": "a", "extra": 1}`, contract.CodeBadArgs},
		{"SetTitle", `{"title": "a"} {}`, contract.CodeBadArgs},
		{"SetTitle", `["a"]`, contract.CodeBadArgs},
		{"Tag", `{"tags": "a"}`, contract.CodeBadArgs},
		{"Count", `{"at": "yesterday"}`, contract.CodeBadArgs},
		{"SetTitle", `{"title": ""}`, "empty_title"},
		{"Explode", ``, contract.CodeActionPanic},
	} {
		b := full()
		err := BoardType.Apply(b, gentest.Ctx(1), tc.action, []byte(tc.args))
		if got := contract.ErrCode(err); got != tc.code {
			t.Errorf("%s %s: code %q (%v), want %q", tc.action, tc.args, got, err, tc.code)
		}
	}
	// Empty args are all parameters zero.
	b := full()
	if err := BoardType.Apply(b, gentest.Ctx(1), "Grow", nil); err != nil || len(b.Root.Children) != 2 || b.Root.Children[1].Value != 0 {
		t.Fatalf("Grow with no args: %v %+v", err, b.Root)
	}
}

func TestDescriptors(t *testing.T) {
	if BoardType.Name != "deep.Board" || CounterType.Name != "tests.Counter" {
		t.Fatalf("names %q %q", BoardType.Name, CounterType.Name)
	}
	fp := regexp.MustCompile(`^[0-9a-f]{16}$`)
	if !fp.MatchString(BoardType.Fingerprint) || !fp.MatchString(CounterType.Fingerprint) || BoardType.Fingerprint == CounterType.Fingerprint {
		t.Fatalf("fingerprints %q %q", BoardType.Fingerprint, CounterType.Fingerprint)
	}
	want := []string{"AddPerson", "Count", "Explode", "Grow", "SetTitle", "Tag"}
	if !slices.Equal(BoardType.Actions, want) {
		t.Fatalf("actions %v, want %v", BoardType.Actions, want)
	}
	if !slices.Equal(CounterType.Actions, []string{"Invite"}) {
		t.Fatalf("Counter actions %v", CounterType.Actions)
	}
	if _, ok := BoardType.New().(*Board); !ok {
		t.Fatal("New does not return *Board")
	}
	if err := CounterType.Apply(CounterType.New(), gentest.Ctx(1), "Inc", nil); contract.ErrCode(err) != contract.CodeUnknownAction {
		t.Fatalf("Counter.Inc: %v", err)
	}
	r := contract.NewRegistry()
	Register(r)
	if got := r.Names(); !slices.Equal(got, []string{"deep.Board", "tests.Counter"}) {
		t.Fatalf("registered %v", got)
	}
}

// A parameter whose type decodes itself is decoded by its UnmarshalJSON.
func TestEnvelopeUsesTheTypesOwnDecoder(t *testing.T) {
	var a CounterInviteArgs
	if err := a.UnmarshalArgs("Invite", []byte(`{"who":"NOTANEMAIL"}`)); contract.ErrCode(err) != contract.CodeBadArgs {
		t.Fatalf("an address without @ decoded: %v %q", err, a.Who)
	}
	if err := a.UnmarshalArgs("Invite", []byte(`{"who":"Ann@Example.ORG"}`)); err != nil || a.Who != "ann@example.org" {
		t.Fatalf("%v %q", err, a.Who)
	}
}

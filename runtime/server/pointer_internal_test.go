package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

type ptrInner struct {
	Name  string            `json:"name"`
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]int    `json:"attrs,omitempty"`
	Next  *ptrInner         `json:"next,omitempty"`
	Any   any               `json:"any"`
	Raw   json.RawMessage   `json:"raw,omitempty"`
	Named map[ptrKey]string `json:"named,omitempty"`
}

type ptrKey string

// The review's cases: a struct type embedded twice at one depth, tags
// encoding/json does not take, omitzero with a pointer IsZero, bytes that
// encode themselves, map keys that are not UTF-8.
type ptrTwiceX struct{ V int }
type ptrTwiceA struct{ ptrTwiceX }
type ptrTwiceB struct{ ptrTwiceX }
type ptrTwice struct {
	ptrTwiceA
	ptrTwiceB
}

type ptrZ struct{ N int }

func (z *ptrZ) IsZero() bool { return z.N == 42 }

type ptrB byte

func (b *ptrB) MarshalJSON() ([]byte, error) { return []byte(`"b"`), nil }

type ptrOdd struct {
	Smile int `json:"😀"`
	//lint:ignore SA5008 a tag encoding/json refuses, on purpose
	Quote int            `json:"a\"b"`
	Z     ptrZ           `json:"z,omitzero"`
	Bs    []ptrB         `json:"bs"`
	Bad   map[string]int `json:"bad"`
	Twice ptrTwice       `json:"twice"`
}

type ptrEmbedded struct {
	Shadowed string `json:"shadowed"`
	Promoted int
	Both     int
}

type ptrEmbedded2 struct {
	Both  int
	Other bool `json:"other,omitempty"`
}

type ptrUpper struct {
	Up string `json:"up"`
}

type ptrState struct {
	ptrEmbedded
	ptrEmbedded2
	*ptrUpper
	Shadowed string     `json:"shadowed"` // shallower than the embedded one: wins
	Items    []ptrInner `json:"items"`
	Fixed    [2]int     `json:"fixed"`
	Bytes    []byte     `json:"bytes,omitempty"`
	Skipped  string     `json:"-"`
	//lint:ignore SA5008 the name "-", on purpose
	Dash    string               `json:"-,"`
	When    time.Time            `json:"when"`          // MarshalJSON: the slow path
	Zero    ptrInner             `json:"zero,omitzero"` // omitted when zero
	Quoted  int                  `json:"quoted,string"` // ",string": the slow path
	ByName  map[string]*ptrInner `json:"by_name"`
	Odd     ptrOdd               `json:"odd"`
	private int
	NoTag   float64
}

func randInner(r *rand.Rand, depth int) ptrInner {
	in := ptrInner{Name: fmt.Sprint("n", r.IntN(5))}
	if r.IntN(2) == 0 {
		for range r.IntN(3) {
			in.Tags = append(in.Tags, fmt.Sprint("t/~", r.IntN(3)))
		}
	}
	if r.IntN(2) == 0 {
		in.Attrs = map[string]int{}
		for range r.IntN(3) {
			in.Attrs[fmt.Sprint("a", r.IntN(4))] = r.IntN(10)
		}
	}
	if depth < 2 && r.IntN(3) == 0 {
		n := randInner(r, depth+1)
		in.Next = &n
	}
	switch r.IntN(4) {
	case 0:
		in.Any = map[string]any{"x": []any{1.5, "y", nil}}
	case 1:
		in.Any = "s"
	case 2:
		in.Any = time.Unix(int64(r.IntN(1000)), 0).UTC() // a Marshaler behind an interface
	}
	if r.IntN(3) == 0 {
		in.Raw = json.RawMessage(`{"b":1,"a":[2]}`)
	}
	if r.IntN(3) == 0 {
		in.Named = map[ptrKey]string{"k": "v"}
	}
	return in
}

func randState(r *rand.Rand) *ptrState {
	s := &ptrState{Shadowed: "top", Fixed: [2]int{r.IntN(3), 4}, When: time.Unix(int64(r.IntN(100)), 0).UTC(), Quoted: r.IntN(9), NoTag: float64(r.IntN(4)) / 2}
	s.ptrEmbedded = ptrEmbedded{Shadowed: "deep", Promoted: r.IntN(3), Both: 1}
	s.ptrEmbedded2 = ptrEmbedded2{Both: 2, Other: r.IntN(2) == 0}
	if r.IntN(2) == 0 {
		s.ptrUpper = &ptrUpper{Up: "u"}
	}
	for range r.IntN(4) {
		s.Items = append(s.Items, randInner(r, 0))
	}
	if r.IntN(2) == 0 {
		s.Bytes = []byte("hi")
	}
	s.private = r.IntN(2)
	s.Odd = ptrOdd{Smile: 7, Quote: 8, Z: ptrZ{N: 40 + r.IntN(4)}, Bs: []ptrB{1, 2}, Bad: map[string]int{"\xff": 1, "ok": 2}}
	s.Odd.Twice.ptrTwiceA.V = 1
	if r.IntN(2) == 0 {
		s.Zero = randInner(r, 1)
	}
	if r.IntN(2) == 0 {
		s.ByName = map[string]*ptrInner{"p": nil}
		in := randInner(r, 1)
		s.ByName["q"] = &in
	}
	return s
}

// allPaths lists the pointer of every value in doc.
func allPaths(prefix pointer, v any, out *[]pointer) {
	*out = append(*out, append(pointer(nil), prefix...))
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			allPaths(append(prefix, k), x[k], out)
		}
	case []any:
		for i, e := range x {
			allPaths(append(prefix, fmt.Sprint(i)), e, out)
		}
	}
}

// TestPointerWalkMatchesEncoding: the value the walk finds at a path is the
// one the state's JSON encoding has there, byte for byte, on a type that
// uses every rule of encoding/json the walk follows (and some it hands to
// the slow path).
func TestPointerWalkMatchesEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast, slow := 0, 0
	for range 300 {
		s := randState(r)
		doc, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(doc, &v); err != nil {
			t.Fatal(err)
		}
		var paths []pointer
		allPaths(nil, v, &paths)
		// And paths that are not there.
		paths = append(paths, pointer{"items", "9"}, pointer{"items", "01"}, pointer{"private"}, pointer{"Skipped"},
			pointer{"fixed", "2"}, pointer{"bytes", "0"}, pointer{"when", "x"}, pointer{"items", "0", "name", "x"},
			pointer{"by_name", "p", "name"}, pointer{"Promoted", "x"}, pointer{"Both"}, pointer{"zero", "name"},
			pointer{"odd", "😀"}, pointer{"odd", "Smile"}, pointer{"odd", "Quote"}, pointer{"odd", "z"}, pointer{"odd", "bs", "0"},
			pointer{"odd", "bad", "\ufffd"}, pointer{"odd", "twice", "V"})
		for _, p := range paths {
			want, wantOK, err := valueInJSON(doc, p)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := walkValue(reflect.ValueOf(s), p)
			if errors.Is(err, errSlowPath) {
				slow++
				got, ok, err = valueAt(s, p, func(x any) ([]byte, error) { return json.Marshal(x) })
			} else {
				fast++
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if ok != wantOK || string(got) != string(want) {
				t.Fatalf("at %q in %s:\n got %v %s\nwant %v %s", p.String(), doc, ok, got, wantOK, want)
			}
		}
	}
	if fast == 0 || slow == 0 {
		t.Fatalf("fast %d, slow %d: both paths should be taken", fast, slow)
	}
	t.Logf("%d lookups by the walk, %d by encoding", fast, slow)
}

func TestParsePointer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"", "[]", false},
		{"/", "[]", false},
		{"/a/b", "[a b]", false},
		{"/a~1b/~0", "[a/b ~]", false},
		{"/~01", "[~1]", false},
		{"a", "", true},
		{"/~", "", true},
		{"/~2", "", true},
		{"/" + strings.Repeat("x", 1024), "", true},
	} {
		p, err := parsePointer(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if err == nil {
			if got := fmt.Sprint([]string(p)); got != tc.want {
				t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
			}
			if p.String() != tc.in {
				t.Errorf("%q: String() %q", tc.in, p.String())
			}
		}
	}
}

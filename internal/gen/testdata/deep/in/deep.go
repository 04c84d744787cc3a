// Package deep is a bsgen test schema whose state holds every kind of
// memory a deep clone must copy: slices, maps, pointers, arrays, nested and
// recursive structs, named and generic types, and values of other packages.
package deep

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/better-state/better-state/schema"
)

// Board is a state with one field of each shape.
//
//bs:state
type Board struct {
	Title    string                      `json:"title"`
	Tags     []string                    `json:"tags"`
	Counts   map[string]int              `json:"counts"`
	Owner    *Person                     `json:"owner"`
	People   []Person                    `json:"people"`
	Refs     []*Person                   `json:"refs"`
	ByTeam   map[string][]Person         `json:"by_team"`
	Nested   map[string]map[string][]int `json:"nested"`
	Grid     [2][]int                    `json:"grid"`
	Fixed    [3]int                      `json:"fixed"`
	Labels   Labels                      `json:"labels"`
	Index    Index                       `json:"index"`
	Root     *Node                       `json:"root"`
	Pair     Pair[[]string]              `json:"pair"`
	When     time.Time                   `json:"when"`
	Deadline *time.Time                  `json:"deadline"`
	Raw      json.RawMessage             `json:"raw"`
	Anon     struct {
		Notes []string `json:"notes"`
		Level int
	} `json:"anon"`
	Embedded
	hidden []int
}

// Person is a nested struct with its own references.
type Person struct {
	Name   string            `json:"name"`
	Emails []string          `json:"emails"`
	Friend *Person           `json:"friend,omitempty"`
	Meta   map[string]string `json:"meta"`
	Born   time.Time         `json:"born"`
}

// Labels is a named slice type.
type Labels []string

// Index is a named map type whose values hold slices.
type Index map[string]Labels

// Node is a recursive type.
type Node struct {
	Value    int     `json:"value"`
	Children []*Node `json:"children"`
}

// Pair is a generic type.
type Pair[T any] struct {
	Left, Right T
}

// Embedded is embedded in Board.
type Embedded struct {
	Extra []byte `json:"extra"`
}

// SetTitle sets the title.
func (b *Board) SetTitle(ctx schema.Ctx, title string) error {
	if title == "" {
		return schema.Reject("empty_title", "a board needs a title")
	}
	b.Title = title
	return nil
}

// Tag adds tags; it is variadic.
func (b *Board) Tag(ctx schema.Ctx, tags ...string) error {
	b.Tags = append(b.Tags, tags...)
	b.Labels = append(b.Labels, tags...)
	return nil
}

// AddPerson adds a person to a team. Its parameters have initialisms.
func (b *Board) AddPerson(ctx schema.Ctx, teamID string, p Person, homeURL *string) error {
	if b.ByTeam == nil {
		b.ByTeam = map[string][]Person{}
	}
	if homeURL != nil {
		if p.Meta == nil {
			p.Meta = map[string]string{}
		}
		p.Meta["home"] = *homeURL
	}
	b.ByTeam[teamID] = append(b.ByTeam[teamID], p)
	b.People = append(b.People, p)
	b.Refs = append(b.Refs, &p)
	if b.Owner == nil {
		b.Owner = &p
	}
	return nil
}

// Count adds deltas to counters and stamps the board with ctx.Time().
func (b *Board) Count(ctx schema.Ctx, deltas map[string]int, at time.Time, grid [2][]int) error {
	if b.Counts == nil {
		b.Counts = map[string]int{}
	}
	for _, k := range slices.Sorted(maps.Keys(deltas)) {
		b.Counts[k] += deltas[k]
	}
	b.When = at
	t := ctx.Time()
	b.Deadline = &t
	b.Grid = grid
	return nil
}

// Grow adds a child under the root.
func (b *Board) Grow(ctx schema.Ctx, value int) error {
	if b.Root == nil {
		b.Root = &Node{}
	}
	b.Root.Children = append(b.Root.Children, &Node{Value: value})
	return nil
}

// Explode panics: the runtime turns that into an error.
func (b *Board) Explode(ctx schema.Ctx) error {
	var m map[string]int
	m["boom"] = 1
	return nil
}

// Len is a helper: it has no ctx.
func (b *Board) Len() int { return len(b.People) }

// rename is a helper: it is unexported.
func (b *Board) rename(ctx schema.Ctx, title string) error {
	b.Title = title
	return nil
}

// Counter is a second state, with a custom wire name.
//
//bs:state name=tests.Counter
type Counter struct {
	N    int   `json:"n"`
	Last Email `json:"last"`
}

// Email decodes itself: lower case, and it must hold an @. The generated
// decoder must leave it to its UnmarshalJSON, not copy the string as is.
type Email string

// UnmarshalJSON implements json.Unmarshaler.
func (e *Email) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if !strings.Contains(s, "@") {
		return errors.New("not an email address")
	}
	*e = Email(strings.ToLower(s))
	return nil
}

// Invite records an address on the counter.
func (c *Counter) Invite(ctx schema.Ctx, who Email) error {
	c.Last = who
	return nil
}

package server

import (
	"encoding/json"
	"fmt"
	"testing"
)

// todosState encodes a todos-like state of n items, item `done` done.
func todosState(n, done int) []byte {
	type item struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Done  bool   `json:"done"`
	}
	items := make([]item, n)
	for i := range items {
		items[i] = item{ID: fmt.Sprintf("id%012d", i), Title: fmt.Sprintf("buy item number %d", i), Done: i == done}
	}
	b, _ := json.Marshal(map[string]any{"items": items})
	return b
}

func TestStatePatchKeepsNumbers(t *testing.T) {
	p, err := statePatch([]byte(`{"n":12345678901234567890,"f":0.1}`), []byte(`{"n":12345678901234567891,"f":0.1}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"value":12345678901234567891,"op":"replace","path":"/n"}]`; string(p) != want {
		t.Fatalf("patch %s, want %s", p, want)
	}
	if p, _ := statePatch([]byte(`{"a":[1]}`), []byte(`{"a":[1]}`)); string(p) != "[]" {
		t.Fatalf("no change gave %s", p)
	}
	// Removing the first item shifts every other: one replace of the
	// whole state is shorter.
	before := todosState(50, -1)
	var doc map[string][]any
	if err := json.Unmarshal(before, &doc); err != nil {
		t.Fatal(err)
	}
	doc["items"] = doc["items"][1:]
	after, _ := json.Marshal(doc)
	p, err = statePatch(before, after)
	if err != nil || string(p) != string(replaceAll(after)) {
		t.Fatalf("got %.200s (%v), want one replace of the whole state", p, err)
	}
}

// BenchmarkStatePatch: the patch of one toggled item, computed once per
// event while a subscriber is in patch mode (docs/BENCHMARKS.md).
func BenchmarkStatePatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		before, after := todosState(n, -1), todosState(n, n/2)
		b.Run(fmt.Sprint("items=", n), func(b *testing.B) {
			b.SetBytes(int64(len(after)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := statePatch(before, after); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

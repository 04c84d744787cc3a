package todos

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/better-state/better-state/internal/gen/gentest"
)

func bigList(n int) *List {
	l := &List{Items: make([]Item, n)}
	for i := range l.Items {
		l.Items[i] = Item{ID: fmt.Sprintf("id-%04d", i), Title: fmt.Sprintf("todo number %d", i), Done: i%3 == 0}
	}
	return l
}

// BenchmarkDispatch compares applying Toggle through the generated
// dispatcher (JSON args decoded into the envelope) with calling the method.
func BenchmarkDispatch(b *testing.B) {
	ctx := gentest.Ctx(1)
	b.Run("direct", func(b *testing.B) {
		l := bigList(10)
		for b.Loop() {
			if err := l.Toggle(ctx, "id-0000"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope", func(b *testing.B) {
		l := bigList(10)
		args := []byte(`{"id":"id-0000"}`)
		for b.Loop() {
			if err := ListType.Dispatch(l, ctx, "Toggle", args); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("apply", func(b *testing.B) { // Dispatch plus Apply's recover
		l := bigList(10)
		args := []byte(`{"id":"id-0000"}`)
		for b.Loop() {
			if err := ListType.Apply(l, ctx, "Toggle", args); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClone compares the generated CloneList with a JSON round trip
// on a 1,000-item list.
func BenchmarkClone(b *testing.B) {
	l := bigList(1000)
	b.Run("generated", func(b *testing.B) {
		for b.Loop() {
			if CloneList(l) == nil {
				b.Fatal("nil")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			data, err := json.Marshal(l)
			if err != nil {
				b.Fatal(err)
			}
			var c List
			if err := json.Unmarshal(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

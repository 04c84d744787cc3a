package server

import (
	"testing"
	"time"
)

func TestGCRA(t *testing.T) {
	g := newGCRA(10, 10)
	now := time.Unix(1000, 0)
	for i := range 10 {
		if !g.allow(now, 1, false) {
			t.Fatalf("take %d of a full bucket of 10 refused", i)
		}
	}
	if g.allow(now, 1, true) || g.allow(now, 1, false) {
		t.Fatal("an 11th at once was allowed")
	}
	if !g.allow(now.Add(100*time.Millisecond), 1, false) || g.allow(now.Add(100*time.Millisecond), 1, false) {
		t.Fatal("after 100 ms at 10/s exactly one more must pass")
	}
	if !g.allow(now.Add(time.Hour), 10, true) || g.allow(now.Add(time.Hour), 11, true) {
		t.Fatal("a rested bucket holds its burst and no more")
	}
}

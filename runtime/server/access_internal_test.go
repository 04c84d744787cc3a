package server

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGrantCheck: what each sub, mut and pset of a connection with an
// end-user token costs for its grants (the token is checked once, at hello
// or auth).
func BenchmarkGrantCheck(b *testing.B) {
	a := &access{grants: []Grant{}}
	for _, s := range []string{"board-*:r", "team-{actor}-*:rw", "list-{actor}-*:rw"} {
		g, _ := ParseGrant(s, "ann")
		a.grants = append(a.grants, g)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !a.can("list-ann-groceries", true) || a.can("list-bob-1", false) {
			b.Fatal("wrong answer")
		}
	}
}

// BenchmarkTokenVerify: checking a token at hello or auth.
func BenchmarkTokenVerify(b *testing.B) {
	k := &TokenKeys{Secret: []byte("a-test-secret-of-more-than-32-bytes-for-hs256")}
	tok, err := MintToken(k.Secret, "default", "ann", []string{"list-{actor}-*:rw"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := k.verify(tok, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A REST request's check: the authenticator remembers tokens it
	// verified, until they expire.
	a := newAuthenticator(nil, "", k, time.Now)
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.check(context.Background(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// This file holds the page's "Identifiers and randomness" and state hash
// (new ids from a mutation's identity, JCS SHA-256 hashes) and their cases.

package conformance

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/gowebpki/jcs"
)

// The page's "Identifiers and randomness".
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func clientIdentity(key, client string, mid uint64) [32]byte {
	return sha256.Sum256([]byte(key + "\x00" + client + "\x00" + strconv.FormatUint(mid, 10)))
}

func restIdentity(key, epoch string, seq uint64) [32]byte {
	return sha256.Sum256([]byte(key + "\x00\x00" + epoch + "\x00" + strconv.FormatUint(seq, 10)))
}

func newID(identity [32]byte, n uint64) string {
	var buf [40]byte
	copy(buf[:], identity[:])
	binary.BigEndian.PutUint64(buf[32:], n)
	sum := sha256.Sum256(buf[:])
	return idEncoding.EncodeToString(sum[:10])
}

// stateHash is the page's state hash: JCS, SHA-256, 16 hex digits.
func stateHash(state []byte) (string, error) {
	c, err := jcs.Transform(state)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:8]), nil
}

func testIdentity(t *testing.T, s *suite) {
	// The page's vectors first, for this suite's own implementation.
	id := clientIdentity("list-1", "c7f3kq2m9d1x", 8)
	if a, b := newID(id, 1), newID(id, 2); a != "nmn4qxt1z01k2m72" || b != "xyrzxnw0pw5zx6cd" {
		t.Fatalf("the suite's NewID gives %s, %s for the page's vector", a, b)
	}
	if got := newID(restIdentity("list-1", "k2j4h5g6", 13), 1); got != "w3wqbddkt8b0sbdz" {
		t.Fatalf("the suite's NewID gives %s for the page's REST vector", got)
	}
	client := s.id("c")
	c, _ := s.hello(t, client)
	key := s.id("k")
	_, synced := c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 2)
	seq := s.restAdd(t, key, "rest")
	var st struct {
		State json.RawMessage `json:"state"`
	}
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &st)
	l := decodeList(t, st.State)
	if len(l.Items) != 3 {
		t.Fatalf("state %s", st.State)
	}
	want := []string{
		newID(clientIdentity(key, client, 1), 1),
		newID(clientIdentity(key, client, 2), 1),
		newID(restIdentity(key, synced.Epoch, seq), 1),
	}
	for i, it := range l.Items {
		if it.ID != want[i] {
			t.Errorf("item %d (%s): id %s, want %s; %s", i+1, it.Title, it.ID, want[i], page("`NewID()`, the n-th call (n = 1, 2, …) in one action: the SHA-256 of the identity (32 bytes) followed by n as a big-endian uint64"))
		}
	}
}

func testStateHash(t *testing.T, s *suite) {
	const vector = `{"title":"a \u003cb\u003e \u0026 c","n":1e+21,"done":false,"é":[1.5,-0,100]}`
	if h, err := stateHash([]byte(vector)); err != nil || h != "5614ba3b4f8864ee" {
		t.Fatalf("the suite's state hash of the page's vector: %s, %v", h, err)
	}
	every := s.tg.Limits.HashEvery
	if every <= 0 {
		t.Skip("needs Limits.HashEvery (-conformance.hash-every)")
	}
	if every > 200 {
		t.Skipf("hashes every %d events: too many for a test", every)
	}
	key := s.id("k")
	c, _ := s.hello(t, s.id("c"))
	c.subscribe(t, s.subMsg(key))
	// Half the events from this connection, half by REST, as long as the
	// connection's mutation burst allows; REST for the rest.
	wsMax := every / 2
	if b := s.tg.Limits.MutationBurst; b > 0 {
		wsMax = min(wsMax, b/2)
	} else {
		wsMax = min(wsMax, 8)
	}
	var hashed Msg
	for seq := 1; seq <= every; seq++ {
		var ev Msg
		if seq%2 == 0 && seq/2 <= wsMax {
			c.send(t, mut(key, uint64(seq/2), "Add", fmt.Sprintf(`{"title":"h<%d> & é"}`, seq)))
			ev = c.awaitEv(t, key, uint64(seq/2))
		} else {
			s.restAdd(t, key, fmt.Sprintf("rest %d", seq))
			ev, _ = c.await(t, "ev", func(m Msg) bool { return m.T == "ev" && m.Key == key && m.Seq == uint64(seq) })
		}
		if ev.Hash != "" {
			if seq%every != 0 {
				t.Errorf("ev seq %d has a hash, hash-every %d", seq, every)
			}
			hashed = ev
		}
	}
	if hashed.Hash == "" {
		t.Fatalf("no ev among %d carried a hash", every)
	}
	var at struct {
		State json.RawMessage `json:"state"`
	}
	s.restOK(t, "GET", fmt.Sprintf("%s/at/%d", s.statePath(key), hashed.Seq), s.tg.Key, nil, &at)
	want, err := stateHash(at.State)
	if err != nil {
		t.Fatal(err)
	}
	if hashed.Hash != want {
		t.Errorf("ev seq %d hash %s; the JCS SHA-256 of the state at that seq is %s", hashed.Seq, hashed.Hash, want)
	}
}

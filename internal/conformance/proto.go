// This file holds the protocol helpers the cases share: sub and mut
// messages, waiting for synced, ev and rej, the todos state, and small
// comparisons.

package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func (s *suite) subMsg(key string) Msg {
	return Msg{T: "sub", Key: key, Type: typeName, FP: s.fp}
}

// subscribe sends sub and reads its answer up to synced; it returns what
// came before synced for the key (rej, ev, snap) and synced.
func (c *wsConn) subscribe(t *testing.T, sub Msg) ([]Msg, Msg) {
	t.Helper()
	c.send(t, sub)
	return c.awaitSynced(t, sub.Key)
}

func (c *wsConn) awaitSynced(t *testing.T, key string) ([]Msg, Msg) {
	t.Helper()
	synced, before := c.await(t, "synced "+key, func(m Msg) bool {
		return m.Key == key && (m.T == "synced" || m.T == "err")
	})
	if synced.T == "err" {
		t.Fatalf("sub %s: %s", key, synced)
	}
	checkFields(t, synced, []string{"t", "key", "epoch"}, "seq", "mid")
	var mine []Msg
	for _, m := range before {
		if m.Key == key {
			mine = append(mine, m)
		}
	}
	return mine, synced
}

func mut(key string, mid uint64, name, args string) Msg {
	m := Msg{T: "mut", Key: key, Mid: mid, Name: name}
	if args != "" {
		m.Args = json.RawMessage(args)
	}
	return m
}

// awaitEv reads up to the ev of (key, mid) of this connection's client.
func (c *wsConn) awaitEv(t *testing.T, key string, mid uint64) Msg {
	t.Helper()
	m, _ := c.await(t, fmt.Sprintf("ev %s mid %d", key, mid), func(m Msg) bool {
		return m.Key == key && m.Mid == mid && (m.T == "ev" || m.T == "rej" || m.T == "err")
	})
	if m.T != "ev" {
		t.Fatalf("mut %s mid %d: got %s, want ev", key, mid, m)
	}
	return m
}

// awaitRej reads up to the rej of (key, mid).
func (c *wsConn) awaitRej(t *testing.T, key string, mid uint64) Msg {
	t.Helper()
	m, _ := c.await(t, fmt.Sprintf("rej %s mid %d", key, mid), func(m Msg) bool {
		return m.Key == key && m.Mid == mid && (m.T == "ev" || m.T == "rej" || m.T == "err")
	})
	if m.T != "rej" {
		t.Fatalf("mut %s mid %d: got %s, want rej", key, mid, m)
	}
	checkFields(t, m, []string{"t", "key", "mid", "name", "code", "msg"})
	return m
}

// addN makes n accepted Adds on key from mid first on, and returns their evs.
func (c *wsConn) addN(t *testing.T, key string, first uint64, n int) []Msg {
	t.Helper()
	var evs []Msg
	for i := range n {
		mid := first + uint64(i)
		c.send(t, mut(key, mid, "Add", fmt.Sprintf(`{"title":"item %d"}`, mid)))
		evs = append(evs, c.awaitEv(t, key, mid))
	}
	return evs
}

type listState struct {
	Items []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Done  bool   `json:"done"`
	} `json:"items"`
}

func decodeList(t *testing.T, raw json.RawMessage) listState {
	t.Helper()
	var l listState
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	return l
}

func (l listState) titles() []string {
	out := []string{}
	for _, it := range l.Items {
		out = append(out, it.Title)
	}
	return out
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func fingerprintOf(shape string) string {
	sum := sha256.Sum256([]byte(shape))
	return hex.EncodeToString(sum[:])[:16]
}

func firstOf(ms []Msg) any {
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

// namesLimit checks the page's "Each is refused with the code given, and
// its message names the limit."
func namesLimit(t *testing.T, what, msg string, limit any) {
	t.Helper()
	if !strings.Contains(msg, fmt.Sprint(limit)) {
		t.Errorf("%s: the message %q does not name the limit %v; %s", what, msg, limit, page("Each is refused with the code given, and its message names the limit."))
	}
}

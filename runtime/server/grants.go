package server

// Grants: which keys of its namespace a credential may read and write. An
// API key without grants reaches every key (as before grants existed); an
// end-user token reaches only what its grants name.

import (
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// Grant allows reading, and maybe writing, the keys that match Pattern: a
// key name where * matches any run of characters and ? one character
// (path.Match; keys hold no '/').
type Grant struct {
	Pattern string
	Read    bool
	Write   bool
}

// ParseGrant reads "PATTERN:MODE", MODE being r, w or rw (w implies r: a
// writer must see what it writes). "{actor}" in PATTERN is replaced by
// actor, so that one token template serves every user.
func ParseGrant(s, actor string) (Grant, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Grant{}, fmt.Errorf("grant %q: want PATTERN:MODE, as in list-{actor}-*:rw", s)
	}
	if strings.Contains(s[:i], "{actor}") && strings.ContainsAny(actor, "*?") {
		return Grant{}, fmt.Errorf("grant %q: actor %q holds * or ?, which {actor} would turn into wildcards", s, actor)
	}
	pat, mode := strings.ReplaceAll(s[:i], "{actor}", actor), s[i+1:]
	if checkKey(strings.NewReplacer("*", "x", "?", "x").Replace(pat)) != nil {
		return Grant{}, fmt.Errorf("grant %q: a pattern is a key (letters, digits, -_.:@~+=) with * and ?, not %q", s, pat)
	}
	g := Grant{Pattern: pat}
	switch mode {
	case "r":
		g.Read = true
	case "w", "rw":
		g.Read, g.Write = true, true
	default:
		return Grant{}, fmt.Errorf("grant %q: the mode is r, w or rw, not %q", s, mode)
	}
	return g, nil
}

func (g Grant) String() string {
	if g.Write {
		return g.Pattern + ":rw"
	}
	return g.Pattern + ":r"
}

// access is what a connection's credential allows now. A token refreshed
// on a live connection replaces it (conn.access), so it is immutable.
type access struct {
	grants  []Grant   // nil: every key of the namespace
	expires time.Time // zero: never (API keys)
	token   bool      // an end-user token, not an API key
	keyID   string    // the API key's id, for revocation ("" for tokens and the dev key)
}

// accessOf is what principal p allows, as a connection keeps it: auth
// replaces it whole, key id included, so that revoking the key a
// connection now runs on reaches it.
func accessOf(p principal) *access {
	a := &access{}
	if p.Access != nil {
		*a = *p.Access
	}
	if !a.token && p.KeyID != devKeyID {
		a.keyID = p.KeyID
	}
	return a
}

// can reports whether the credential may read (write false) or write key.
func (a *access) can(key string, write bool) bool {
	if a.grants == nil {
		return true
	}
	for _, g := range a.grants {
		if write && !g.Write {
			continue
		}
		if ok, _ := path.Match(g.Pattern, key); ok {
			return true
		}
	}
	return false
}

func (a *access) expired(now time.Time) bool {
	return !a.expires.IsZero() && !now.Before(a.expires)
}

// errNotGranted is the answer to a read or write of a key that the
// credential's grants do not reach.
func errNotGranted(key string, write bool) *apiError {
	what := "read"
	if write {
		what = "write"
	}
	return errorf(http.StatusForbidden, protocol.CodeForbidden, "this credential may not %s %q (its grants do not reach it)", what, key)
}

// can reports whether the connection's credential may read (write false)
// or write key now.
func (c *conn) can(key string, write bool) bool {
	a := c.acc.Load()
	return a == nil || a.can(key, write)
}

// refresh handles auth: a new credential for the same actor of the same
// namespace (a fresh token before the last one expires). Its grants apply
// from now on: a subscription they no longer reach ends with forbidden.
func (c *conn) refresh(m *protocol.Msg) {
	p, err := c.srv.auth.check(c.ctx, m.Auth)
	if err != nil {
		e := authError(err)
		c.sendErr(e.Code, "", 0, "auth: %s", e.Message)
		return
	}
	if p.Namespace != c.p.Namespace || p.Actor != c.p.Actor {
		c.sendErr(protocol.CodeForbidden, "", 0, "auth: the new credential is actor %q of namespace %q; this connection is actor %q of %q", p.Actor, p.Namespace, c.p.Actor, c.p.Namespace)
		return
	}
	c.acc.Store(accessOf(p))
	c.mu.Lock()
	var lost []string
	for k := range c.keys {
		if !c.can(k, false) {
			lost = append(lost, k)
			delete(c.keys, k)
		}
	}
	c.mu.Unlock()
	for _, k := range lost {
		c.srv.sendIfActive(c.p.Namespace, k, roomMsg{kind: kindUnsub, conn: c})
		e := errNotGranted(k, false)
		c.sendErr(e.Code, k, 0, "%s", e.Message)
	}
	c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TAuthed}))
}

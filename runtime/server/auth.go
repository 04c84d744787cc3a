package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/better-state/better-state/runtime/storage"
)

// DefaultNamespace is the namespace of the dev key and of the key the server
// makes when it starts without any.
const DefaultNamespace = "default"

// Roles of API keys. An admin key may also use the namespace-wide reads
// (listing namespaces and states); a client key reads and writes single keys.
const (
	RoleAdmin  = "admin"
	RoleClient = "client"
)

// principal is who a request or connection authenticated as.
type principal struct {
	KeyID     string
	Namespace string
	Actor     string
	Role      string
	Access    *access // grants and expiry; nil: every key, no expiry
}

// can reports whether p may read (write false) or write key.
func (p principal) can(key string, write bool) bool {
	return p.Access == nil || p.Access.can(key, write)
}

var (
	errNoKey    = errors.New("no API key")
	errBadKey   = errors.New("wrong API key")
	keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
)

// authenticator checks API keys. Keys look like bs_<id>_<secret>; the store
// keeps the id and the SHA-256 of the secret, compared in constant time.
// Validated keys are cached for a short time so that a revocation made by
// another process takes effect within cacheTTL.
type authenticator struct {
	store     storage.Store
	devHash   []byte
	tokenKeys *TokenKeys // nil: no end-user tokens
	now       func() time.Time

	mu     sync.Mutex
	cache  map[string]cachedKey
	tokens map[string]principal // verified tokens, until they expire: a REST request costs a lookup
	// forgets counts forget calls: a lookup caches what it read only if
	// no key was forgotten meanwhile.
	forgets uint64
}

type cachedKey struct {
	k       storage.APIKey
	expires time.Time
}

const cacheTTL = 2 * time.Second

func newAuthenticator(st storage.Store, devKey string, tokens *TokenKeys, now func() time.Time) *authenticator {
	a := &authenticator{store: st, cache: map[string]cachedKey{}, tokenKeys: tokens, now: now}
	if devKey != "" {
		h := sha256.Sum256([]byte(devKey))
		a.devHash = h[:]
	}
	return a
}

// newKey returns a new random API key, its id and the hash that is stored.
func newKey() (key, id string, hash []byte) {
	var idb [5]byte
	var sec [20]byte
	rand.Read(idb[:])
	rand.Read(sec[:])
	id = keyEncoding.EncodeToString(idb[:])
	secret := keyEncoding.EncodeToString(sec[:])
	h := sha256.Sum256([]byte(secret))
	return "bs_" + id + "_" + secret, id, h[:]
}

func (a *authenticator) check(ctx context.Context, key string) (principal, error) {
	if key == "" {
		return principal{}, errNoKey
	}
	if isToken(key) {
		return a.token(key)
	}
	if a.devHash != nil {
		h := sha256.Sum256([]byte(key))
		if subtle.ConstantTimeCompare(h[:], a.devHash) == 1 {
			return principal{KeyID: devKeyID, Namespace: DefaultNamespace, Actor: "dev", Role: RoleAdmin}, nil
		}
	}
	rest, ok := strings.CutPrefix(key, "bs_")
	if !ok {
		return principal{}, errBadKey
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" {
		return principal{}, errBadKey
	}
	k, err := a.lookup(ctx, id)
	if err != nil {
		return principal{}, err
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], k.Hash) != 1 || k.RevokedAt != nil {
		return principal{}, errBadKey
	}
	acc, err := keyAccess(k)
	if err != nil {
		return principal{}, err
	}
	return principal{KeyID: k.ID, Namespace: k.Namespace, Actor: k.Actor, Role: k.Role, Access: acc}, nil
}

// token checks an end-user token, from the cache of verified ones while it
// has not expired.
func (a *authenticator) token(tok string) (principal, error) {
	now := a.now()
	a.mu.Lock()
	p, ok := a.tokens[tok]
	a.mu.Unlock()
	if ok {
		if p.Access.expired(now) {
			return principal{}, errTokenExpired
		}
		return p, nil
	}
	p, _, err := a.tokenKeys.verify(tok, now)
	if err != nil {
		return principal{}, err
	}
	a.mu.Lock()
	if a.tokens == nil || len(a.tokens) >= maxCachedTokens {
		a.tokens = map[string]principal{} // bounded: 10,000 tokens of at most 4 KiB
	}
	a.tokens[tok] = p
	a.mu.Unlock()
	return p, nil
}

// maxCachedTokens bounds the verified tokens remembered.
const maxCachedTokens = 10_000

func (a *authenticator) lookup(ctx context.Context, id string) (storage.APIKey, error) {
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[id]
	gen := a.forgets
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.k, nil
	}
	k, err := a.store.Key(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.APIKey{}, errBadKey
	}
	if err != nil {
		return storage.APIKey{}, err
	}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache)
	}
	if a.forgets == gen {
		// (A revocation since the read may have made k stale: it is not
		// cached, and the next lookup reads again.)
		a.cache[id] = cachedKey{k: k, expires: now.Add(cacheTTL)}
	}
	a.mu.Unlock()
	return k, nil
}

// forget drops id from the cache, so that a revocation made through this
// server takes effect at once.
func (a *authenticator) forget(id string) {
	a.mu.Lock()
	delete(a.cache, id)
	a.forgets++
	a.mu.Unlock()
}

// devKeyID is the KeyID of the --dev-key, which cannot be revoked.
const devKeyID = "dev"

// stillValid reports whether the stored key id is still usable. A storage
// error counts as valid: a database hiccup must not cut every connection.
func (a *authenticator) stillValid(ctx context.Context, id string) bool {
	k, err := a.lookup(ctx, id)
	if errors.Is(err, errBadKey) {
		return false
	}
	return err != nil || k.RevokedAt == nil
}

// bearer returns the key of an "Authorization: Bearer <key>" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

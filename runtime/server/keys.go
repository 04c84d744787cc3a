package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/better-state/better-state/runtime/storage"
)

// KeySpec describes a new API key.
type KeySpec struct {
	Namespace string // default: DefaultNamespace
	Actor     string // what ctx.Actor() returns for its mutations; default: the key's id
	Role      string // RoleAdmin or RoleClient (the default)
	// Grants, PATTERN:MODE as in end-user tokens ({actor} is the key's
	// actor), limit the keys it reaches; none: every key of its namespace.
	Grants []string
}

// CreateKey makes a new API key and returns it. Only its hash is stored: the
// key cannot be shown again.
func (s *Server) CreateKey(ctx context.Context, spec KeySpec) (string, error) {
	return createKey(ctx, s.store, spec)
}

// RevokeKey revokes an API key, given as its id or whole. Connections that
// use it are closed within a few seconds (their next key check).
func (s *Server) RevokeKey(ctx context.Context, key string) error {
	id := KeyID(key)
	if err := s.store.RevokeKey(ctx, id); err != nil {
		return err
	}
	s.auth.forget(id)
	return nil
}

// KeyInfo describes a stored API key (never the key itself).
type KeyInfo struct {
	ID        string
	Namespace string
	Actor     string
	Role      string
	Grants    []string // none: every key
	Created   time.Time
	Revoked   time.Time // zero while the key is valid
}

// EnsureAdminKey makes an admin key of DefaultNamespace when the database
// holds no key at all, and returns it; it returns "" when keys exist.
func (s *Server) EnsureAdminKey(ctx context.Context) (string, error) {
	keys, err := s.store.Keys(ctx)
	if err != nil || len(keys) > 0 {
		return "", err
	}
	return createKey(ctx, s.store, KeySpec{Actor: "admin", Role: RoleAdmin})
}

// KeyStore manages the API keys of a database file without a server, also
// while a server runs on it (the server sees a revocation within a few
// seconds).
type KeyStore struct {
	st storage.Store
}

// OpenKeyStore opens the keys of the database file at path, creating the
// file if it does not exist, or of the PostgreSQL database at a
// postgres:// URL.
func OpenKeyStore(path string) (*KeyStore, error) {
	st, err := openStore(path, storage.SQLiteOptions{})
	if err != nil {
		return nil, err
	}
	return &KeyStore{st: st}, nil
}

// Create makes a new API key and returns it; only its hash is stored.
func (k *KeyStore) Create(ctx context.Context, spec KeySpec) (string, error) {
	return createKey(ctx, k.st, spec)
}

// List returns every key, revoked ones included.
func (k *KeyStore) List(ctx context.Context) ([]KeyInfo, error) {
	keys, err := k.st.Keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, len(keys))
	for i, key := range keys {
		out[i] = KeyInfo{ID: key.ID, Namespace: key.Namespace, Actor: key.Actor, Role: key.Role, Grants: splitGrants(key.Grants), Created: time.UnixMilli(key.CreatedAt)}
		if key.RevokedAt != nil {
			out[i].Revoked = time.UnixMilli(*key.RevokedAt)
		}
	}
	return out, nil
}

// ErrNoKey is RevokeKey's error for a key that does not exist or is
// revoked already.
var ErrNoKey = storage.ErrNotFound

// Revoke revokes the key given as its id or whole.
func (k *KeyStore) Revoke(ctx context.Context, key string) error {
	return k.st.RevokeKey(ctx, KeyID(key))
}

// Close closes the database file.
func (k *KeyStore) Close() error { return k.st.Close() }

// KeyID returns the id of a whole key ("bs_ID_SECRET"), which keys list
// shows and RevokeKey takes, or key itself when it is an id already.
func KeyID(key string) string {
	if rest, ok := strings.CutPrefix(key, "bs_"); ok {
		id, _, _ := strings.Cut(rest, "_")
		return id
	}
	return key
}

func createKey(ctx context.Context, st storage.Store, spec KeySpec) (string, error) {
	if spec.Namespace == "" {
		spec.Namespace = DefaultNamespace
	}
	if spec.Role == "" {
		spec.Role = RoleClient
	}
	if spec.Role != RoleAdmin && spec.Role != RoleClient {
		return "", fmt.Errorf("server: a key's role is admin or client, not %q", spec.Role)
	}
	if e := checkKey(spec.Namespace); e != nil {
		return "", fmt.Errorf("server: bad namespace: %s", e.Message)
	}
	key, id, hash := newKey()
	if spec.Actor == "" {
		spec.Actor = id
	}
	if spec.Role == RoleAdmin && len(spec.Grants) > 0 {
		return "", fmt.Errorf("server: an admin key reaches every key of its namespace; give grants to client keys")
	}
	for _, g := range spec.Grants {
		if _, err := ParseGrant(g, spec.Actor); err != nil {
			return "", fmt.Errorf("server: %w", err)
		}
	}
	err := st.CreateKey(ctx, storage.APIKey{ID: id, Namespace: spec.Namespace, Hash: hash, Actor: spec.Actor, Role: spec.Role, CreatedAt: time.Now().UnixMilli(), Grants: strings.Join(spec.Grants, "\n")})
	if err != nil {
		return "", err
	}
	return key, nil
}

func splitGrants(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// keyAccess is the access of a stored key: every key, or its grants.
func keyAccess(k storage.APIKey) (*access, error) {
	gs := splitGrants(k.Grants)
	if gs == nil {
		return nil, nil
	}
	a := &access{grants: []Grant{}}
	for _, s := range gs {
		g, err := ParseGrant(s, k.Actor)
		if err != nil {
			return nil, fmt.Errorf("stored key %s: %w", k.ID, err)
		}
		a.grants = append(a.grants, g)
	}
	return a, nil
}

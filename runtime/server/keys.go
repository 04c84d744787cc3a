package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/better-state/better-state/internal/storage"
)

// KeySpec describes a new API key.
type KeySpec struct {
	Namespace string // default: DefaultNamespace
	Actor     string // what ctx.Actor() returns for its mutations; default: the key's id
	Role      string // RoleAdmin or RoleClient (the default)
}

// CreateKey makes a new API key and returns it. Only its hash is stored: the
// key cannot be shown again.
func (s *Server) CreateKey(ctx context.Context, spec KeySpec) (string, error) {
	return createKey(ctx, s.store, spec)
}

// RevokeKey revokes an API key, given as its id or whole. Connections that
// use it are closed within a few seconds (their next key check).
func (s *Server) RevokeKey(ctx context.Context, key string) error {
	id := keyID(key)
	if err := s.store.RevokeKey(ctx, id); err != nil {
		return err
	}
	s.auth.forget(id)
	return nil
}

// keyID returns the id of a whole key ("bs_ID_SECRET"), or key itself.
func keyID(key string) string {
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
	key, id, hash := NewKey()
	if spec.Actor == "" {
		spec.Actor = id
	}
	err := st.CreateKey(ctx, storage.APIKey{ID: id, Namespace: spec.Namespace, Hash: hash, Actor: spec.Actor, Role: spec.Role, CreatedAt: time.Now().UnixMilli()})
	if err != nil {
		return "", err
	}
	return key, nil
}

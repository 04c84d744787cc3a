// Package client is the Better-State client: one connection to a server,
// multiplexing typed stores that apply actions at once, queue them durably,
// and converge with the server. Generated Open<S> functions build on it.
package client

import (
	"context"
	"errors"

	"github.com/better-state/better-state/runtime"
)

// Options configure a Client. (Skeleton: the client issue fills this in.)
type Options struct {
	APIKey string
	Dir    string
}

// Client is a connection to a Better-State server. (Skeleton.)
type Client struct{}

// Dial returns a client that connects in the background. (Skeleton.)
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	return nil, errors.New("client: not implemented yet")
}

// Store is the untyped engine behind a generated typed store. (Skeleton.)
type Store struct{}

// Open opens the store of key, a state of type t. (Skeleton.)
func (c *Client) Open(t *runtime.Type, key string) (*Store, error) {
	return nil, errors.New("client: not implemented yet")
}

// Mutate applies action with args to the local view and queues it. (Skeleton.)
func (s *Store) Mutate(action string, args any) error { return errors.New("not implemented") }

// View returns a deep copy of the current view, a pointer to the state. (Skeleton.)
func (s *Store) View() any { return nil }

// Subscribe calls fn with each new view. (Skeleton.)
func (s *Store) Subscribe(fn func(any)) (cancel func()) { return func() {} }

// Key returns the store's key.
func (s *Store) Key() string { return "" }

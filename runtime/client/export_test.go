package client

import (
	"fmt"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// Rebase drops the view and rebuilds it from confirmed and pending, as an
// incoming foreign event does.
func (s *Store) Rebase() {
	s.mu.Lock()
	s.view = nil
	s.currentView()
	s.mu.Unlock()
}

// Hooks for the deterministic simulation (sim_test.go), which drives a
// client by hand: no goroutines, its clock, its timers, its transport.

// SimLink is a transport the simulation scripts.
type SimLink struct {
	Send  func(frame []byte) error
	Close func()
}

func (l *SimLink) send(frame []byte) error { return l.Send(frame) }
func (l *SimLink) close()                  { l.Close() }

// SimOptions are the parts of a client the simulation replaces.
type SimOptions struct {
	Now            func() time.Time
	Later          func(d time.Duration, f func())
	BugClearOnSend bool
	DiskSync       string
	OnRenumber     func(key string, old, new []uint64)
}

// NewSimClient makes a client that never connects by itself.
func NewSimClient(opts Options, so SimOptions) (*Client, error) {
	opts.diskSync = so.DiskSync
	c, err := newClient("ws://sim/v1/ws", opts)
	if err != nil {
		return nil, err
	}
	c.now, c.later, c.bugClearOnSend, c.onRenumber = so.Now, so.Later, so.BugClearOnSend, so.OnRenumber
	return c, nil
}

// Hello is the client's first frame.
func (c *Client) Hello() []byte { return c.hello("") }

// Attach takes the client online through l, given the server's welcome.
func (c *Client) Attach(l *SimLink, welcome []byte) error {
	msgs, err := protocol.Decode(welcome)
	if err != nil {
		return err
	}
	if msgs[0].T != protocol.TWelcome {
		return fmt.Errorf("no welcome: %s", welcome)
	}
	return c.attach(l, &msgs[0])
}

// Deliver hands the client one frame from the server.
func (c *Client) Deliver(l *SimLink, frame []byte) error { return c.deliver(l, frame) }

// Detach takes the client offline.
func (c *Client) Detach() { c.detach() }

// Crash stops the client as a killed process would: nothing more is saved.
func (c *Client) Crash() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	if c.disk != nil {
		return c.disk.close()
	}
	return nil
}

// NextMid is the mid of the last mutation the store queued.
func (s *Store) NextMid() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextMid
}

package server

import (
	"github.com/better-state/better-state/runtime/protocol"
)

// A connection's send queue is bounded in bytes, not only in messages:
// whatever waits for it (events, snapshots, catch-up, errors) counts
// against Limits.SendBytes, and a connection over it is cut with
// slow_consumer. Frames made for one connection alone (a catch-up read from
// the log, a refusal, an error) also count against a server-wide budget,
// Limits.MaxQueuedBytes, so that many connections that do not read cannot
// add up to more than it. Frames shared by every subscriber (an ev, a
// cached snap, the ring's recent events) are in memory once, whoever waits
// for them, and count only against each connection's own budget.

// enqueue queues frames made for this connection alone.
func (c *conn) enqueue(frames ...[]byte) { c.push(false, frames) }

// enqueueShared queues frames that other connections may hold too.
func (c *conn) enqueueShared(frames ...[]byte) { c.push(true, frames) }

func (c *conn) push(shared bool, frames [][]byte) {
	var n int64
	if len(frames) == 1 { // a broadcast: the common case
		n = int64(len(frames[0]))
	} else {
		for _, f := range frames {
			n += int64(len(f))
		}
	}
	l := &c.srv.cfg.Limits
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	var over *apiError
	switch {
	case len(c.queue)+len(frames) > l.SendQueue:
		over = errorf(0, protocol.CodeSlowConsumer, "the connection fell %d messages behind (the send queue limit)", l.SendQueue)
	case c.queued+n > l.SendBytes:
		over = errorf(0, protocol.CodeSlowConsumer, "the connection has %d bytes waiting, over its send budget of %d bytes", c.queued+n, l.SendBytes)
	case !shared && c.srv.queued.Add(n) > l.MaxQueuedBytes:
		c.srv.queued.Add(-n)
		over = errorf(0, protocol.CodeSlowConsumer, "the server holds its budget of %d bytes for connections that do not read", l.MaxQueuedBytes)
	}
	if over != nil {
		c.mu.Unlock()
		c.fail(over)
		return
	}
	if !shared {
		c.own += n
	}
	c.queued += n
	c.queue = append(c.queue, frames...)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// take hands the queue to the writer and releases its budget. c.mu is held.
func (c *conn) take() [][]byte {
	frames := c.queue
	c.queue = c.spare[:0]
	if c.own != 0 {
		c.srv.queued.Add(-c.own)
	}
	c.own, c.queued = 0, 0
	return frames
}

// dropQueue forgets what waits for the connection. c.mu is held.
func (c *conn) dropQueue() {
	clear(c.queue)
	c.queue = nil
	if c.own != 0 {
		c.srv.queued.Add(-c.own)
	}
	c.own, c.queued = 0, 0
}

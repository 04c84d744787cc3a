package server

// A connection's writer: coalesced frames out, and the close handshake.

import (
	"context"
	"time"

	"github.com/coder/websocket"
)

func (c *conn) writeLoop() {
	// Two cases only: pings and hung writes are the janitor's, so that a
	// delivery costs no more here than in a bare relay.
	for {
		select {
		case <-c.ctx.Done():
			c.ws.CloseNow()
			return
		case <-c.signal:
			c.mu.Lock()
			frames := c.take()
			failure := c.failure
			c.mu.Unlock()
			if len(frames) > 0 {
				if err := c.write(frames); err != nil {
					c.ws.CloseNow()
					c.cancel()
					return
				}
			}
			clear(frames)
			c.mu.Lock()
			c.spare = frames
			c.mu.Unlock()
			if failure != nil {
				c.closeWith(failure)
				return
			}
		}
	}
}

// write sends the frames waiting for the connection as one frame: the
// message itself when there is one, a JSON array of them otherwise.
func (c *conn) write(frames [][]byte) error {
	// No context: it costs the WebSocket library a timer and an AfterFunc
	// per call. The janitor drops a connection whose write hangs.
	c.writeStart.Store(time.Now().UnixNano())
	defer c.writeStart.Store(0)
	ctx := context.Background()
	if len(frames) == 1 {
		return c.ws.Write(ctx, websocket.MessageText, frames[0])
	}
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	w.Write([]byte{'['})
	for i, f := range frames {
		if i > 0 {
			w.Write([]byte{','})
		}
		if _, err := w.Write(f); err != nil {
			w.Close()
			return err
		}
	}
	w.Write([]byte{']'})
	return w.Close()
}

// closeWith sends e as a fatal err, then a close frame whose reason is
// e's code. A peer that does not read gets neither: the write gives up
// after fatalWriteTimeout, and the library bounds the close handshake.
func (c *conn) closeWith(e *apiError) {
	if c.raw != nil {
		// The close handshake reads what the peer still sends, the rest
		// of an oversized frame included: a deadline on the socket bounds
		// it, whatever the peer does.
		c.raw.SetDeadline(time.Now().Add(fatalWriteTimeout + closeTimeout))
	}
	ctx, cancel := context.WithTimeout(c.ctx, fatalWriteTimeout)
	err := c.ws.Write(ctx, websocket.MessageText, fatalFrame(e))
	cancel()
	if err == nil {
		c.ws.Close(closeStatus(e.Code), e.Code)
	}
	c.ws.CloseNow()
	c.cancel()
}

const (
	fatalWriteTimeout = 2 * time.Second
	closeTimeout      = time.Second
)

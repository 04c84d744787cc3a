package abuse

// Speaking the protocol to the server under attack.

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/coder/websocket"
)

var (
	fpOnce sync.Once
	fp     string
)

// todosFP asks the server for todos.List's fingerprint, which its welcome
// lists (this package must not import the examples).
func todosFP(ctx context.Context, t Target) string {
	fpOnce.Do(func() {
		c, welcome, err := dialWelcome(ctx, t, "fp-probe")
		if err != nil {
			return
		}
		defer c.CloseNow()
		fp = welcome.Types["todos.List"]
	})
	return fp
}

// dial opens a WebSocket and says hello as client.
func dial(ctx context.Context, t Target, client string) (*websocket.Conn, error) {
	c, _, err := dialWelcome(ctx, t, client)
	return c, err
}

// dialWelcome is dial that also returns the server's welcome.
func dialWelcome(ctx context.Context, t Target, client string) (*websocket.Conn, protocol.Msg, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+t.Key)
	c, _, err := websocket.Dial(dctx, t.wsURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, protocol.Msg{}, err
	}
	c.SetReadLimit(64 << 20)
	send(dctx, c, protocol.Msg{T: protocol.THello, V: protocol.Version, Client: client})
	welcome, err := until(dctx, c, func(m protocol.Msg) bool { return m.T == protocol.TWelcome })
	if err != nil {
		c.CloseNow()
		return nil, protocol.Msg{}, err
	}
	return c, welcome, nil
}

func send(ctx context.Context, c *websocket.Conn, m protocol.Msg) error {
	return c.Write(ctx, websocket.MessageText, protocol.Encode(&m))
}

// until reads messages until pred holds for one, and returns it. A fatal
// err ends the wait with that err as the message.
func until(ctx context.Context, c *websocket.Conn, pred func(protocol.Msg) bool) (protocol.Msg, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(rctx)
		if err != nil {
			return protocol.Msg{}, err
		}
		msgs, err := protocol.Decode(data)
		if err != nil {
			return protocol.Msg{}, err
		}
		for _, m := range msgs {
			if pred(m) || (m.T == protocol.TErr && m.Fatal) {
				return m, nil
			}
		}
	}
}

// fatalCode reads what the server still sends on c and returns the code
// of its fatal err, or of its close frame.
func fatalCode(ctx context.Context, c *websocket.Conn) string {
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(rctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Reason != "" {
				return ce.Reason
			}
			return "closed"
		}
		if msgs, err := protocol.Decode(data); err == nil {
			for _, m := range msgs {
				if m.T == protocol.TErr && m.Fatal {
					return m.Code
				}
			}
		}
	}
}

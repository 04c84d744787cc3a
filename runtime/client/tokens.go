package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// End-user tokens (docs/PROTOCOL.md, "Access"): with Options.TokenSource,
// the client says hello with a token from it, and sends a fresh one (the
// auth message) when four fifths of the last one's life has passed, so
// that a connection outlives its tokens without reconnecting.

// tokenExpiry reads the exp claim of a JWT without checking it (the
// server checks it); ok is false for something that is not a JWT.
func tokenExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(c.Exp), 0), true
}

// refreshAt is when to replace a token that expires at exp, got at now.
func refreshAt(now, exp time.Time) time.Time {
	return now.Add(exp.Sub(now) * 4 / 5)
}

// refreshTokens sends a fresh token through l before each expires, until
// ctx ends. tok is the token the connection said hello with.
func (c *Client) refreshTokens(ctx context.Context, l link, tok string) {
	for {
		exp, ok := tokenExpiry(tok)
		if !ok {
			return
		}
		// At least a second apart: a source that returns the same token,
		// or a clock ahead of the minter's, must not spin.
		t := time.NewTimer(max(time.Second, time.Until(refreshAt(time.Now(), exp))))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		next, err := c.opts.TokenSource(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Keep the last token and try again (a second later at
			// least); if it expires meanwhile, the server ends the
			// connection and the next one asks for a token.
			c.log.Warn("client: TokenSource failed; retrying", "err", err)
			continue
		case next == tok:
			continue
		}
		if err := l.send(protocol.Encode(&protocol.Msg{T: protocol.TAuth, Auth: next})); err != nil {
			return
		}
		tok = next
	}
}

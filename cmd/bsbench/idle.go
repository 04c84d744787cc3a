package main

// The idle scenario: memory per idle connection.

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// idle: connections that subscribe to one key each and then idle; the
// server's resident memory per connection. Each connection keeps reading
// (as a real client does), so it answers the server's pings.
func (l *load) idle(ctx context.Context, p params) error {
	n, keys := p.int("conns"), p.int("keys")
	time.Sleep(time.Second)
	before := l.mark()
	conns := make([]*websocket.Conn, n)
	defer closeAll(conns)
	var up atomic.Int64
	stop := l.progress("connected", &up, int64(n))
	start := time.Now()
	err := parallel(n, 100, func(i int) error {
		ws, err := l.connect(ctx, l.clientID(i), fmt.Sprintf("i-%s-%d", l.run, i%keys))
		if err != nil {
			return err
		}
		conns[i] = ws
		ws.CloseRead(context.Background()) // nothing more should come; pings are answered
		up.Add(1)
		return nil
	})
	took := time.Since(start)
	stop()
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	after := l.mark()
	l.res.OpsPerS = float64(n) / took.Seconds()
	l.cpu(before, after)
	l.res.set("conns", n)
	if after.srv.rss > 0 {
		l.res.set("server_bytes_per_conn", (after.srv.rss-before.srv.rss)/int64(n))
		l.res.set("server_rss_before_bytes", before.srv.rss)
	}
	// Every connection is still there.
	if open, err := l.t.connections(ctx); err != nil {
		l.res.fail("healthz: %v", err)
	} else if open < n {
		l.res.fail("%d connections open at the end, want %d", open, n)
	}
	return nil
}

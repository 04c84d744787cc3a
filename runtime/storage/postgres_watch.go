package storage

// Hearing the other servers: LISTEN on one connection of its own.

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Watch implements Shared: a goroutine holds one connection that LISTENs,
// and reconnects with backoff when it is lost; after each (re)connect fn
// hears "anything may have moved" (an empty ns), since notifications sent
// while it was away are lost.
func (s *Postgres) Watch(fn func(ns, key string, h Head)) {
	s.watchOnce.Do(func() {
		s.wg.Add(1)
		go s.listen(fn)
	})
}

func (s *Postgres) listen(fn func(ns, key string, h Head)) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for s.life.Err() == nil {
		err := s.listenOnce(fn)
		if s.life.Err() != nil {
			return
		}
		_ = err // the pool's next failure reports the database's state
		select {
		case <-time.After(backoff):
		case <-s.life.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Postgres) listenOnce(fn func(ns, key string, h Head)) error {
	cfg, err := pgx.ParseConfig(s.url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.life, 10*time.Second)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(s.life, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	fn("", "", Head{}) // what was sent while nobody listened is lost
	for {
		ctx, cancel := context.WithTimeout(s.life, s.opt.CheckEvery)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if s.life.Err() != nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Quiet: make sure the connection is still there.
			pctx, pcancel := context.WithTimeout(s.life, 5*time.Second)
			err = conn.Ping(pctx)
			pcancel()
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		var p []json.RawMessage
		var ns, key string
		var h Head
		if json.Unmarshal([]byte(n.Payload), &p) != nil || len(p) != 4 ||
			json.Unmarshal(p[0], &ns) != nil || json.Unmarshal(p[1], &key) != nil || json.Unmarshal(p[2], &h.Seq) != nil || json.Unmarshal(p[3], &h.Epoch) != nil {
			continue
		}
		fn(ns, key, h)
	}
}

var (
	_ Shared = (*Postgres)(nil)
	_        = stdlib.GetDefaultDriver // the "pgx" database/sql driver
)

package client

import "sync"

// Subscribers of a store's view.

// Subscribe calls fn with each new view, on a goroutine of its own; bursts
// of changes are coalesced, and a slow fn never blocks the connection. fn is
// called once at once with the current view.
func (s *Store) Subscribe(fn func(any)) (cancel func()) {
	sub := &subscriber{signal: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	s.subsMu.Lock()
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	sub.signal <- struct{}{}
	go func() {
		defer close(sub.stopped)
		for {
			select {
			case <-sub.signal:
				fn(s.View())
			case <-sub.done:
				return
			}
		}
	}()
	return func() {
		s.subsMu.Lock()
		delete(s.subs, sub)
		s.subsMu.Unlock()
		sub.stop()
	}
}

type subscriber struct {
	signal  chan struct{}
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func (sub *subscriber) stop() { sub.once.Do(func() { close(sub.done) }) }

func (s *Store) changed() {
	s.subsMu.Lock()
	for sub := range s.subs {
		select {
		case sub.signal <- struct{}{}:
		default:
		}
	}
	s.subsMu.Unlock()
}

func (s *Store) stopSubscribers() {
	s.stopPresenceSubscribers()
	s.subsMu.Lock()
	subs := s.subs
	s.subs = map[*subscriber]struct{}{}
	s.subsMu.Unlock()
	for sub := range subs {
		sub.stop()
		<-sub.stopped
	}
}

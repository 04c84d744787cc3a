package client

import "sync"

// Subscribers of a store's view, and of its presence.

// Subscribe calls fn with each new view, on a goroutine of its own; bursts
// of changes are coalesced, and a slow fn never blocks the connection. fn is
// called once at once with the current view.
func (s *Store) Subscribe(fn func(any)) (cancel func()) {
	return s.subs.add(func() { fn(s.View()) })
}

func (s *Store) changed() { s.subs.signal() }

func (s *Store) stopSubscribers() {
	s.pres.subs.stopAll()
	s.subs.stopAll()
}

// subscribers is a set of subscriptions: each runs its function on a
// goroutine of its own, once at once and then after signals, coalescing
// the signals that come while it runs.
type subscribers struct {
	mu sync.Mutex
	m  map[*subscriber]struct{}
}

type subscriber struct {
	signal  chan struct{}
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func (sub *subscriber) stop() { sub.once.Do(func() { close(sub.done) }) }

// add starts a subscription running fn; cancel ends it (without waiting
// for a call of fn in progress, so that fn may cancel itself).
func (ss *subscribers) add(fn func()) (cancel func()) {
	sub := &subscriber{signal: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	ss.mu.Lock()
	if ss.m == nil {
		ss.m = map[*subscriber]struct{}{}
	}
	ss.m[sub] = struct{}{}
	ss.mu.Unlock()
	sub.signal <- struct{}{}
	go func() {
		defer close(sub.stopped)
		for {
			select {
			case <-sub.signal:
				fn()
			case <-sub.done:
				return
			}
		}
	}()
	return func() {
		ss.mu.Lock()
		delete(ss.m, sub)
		ss.mu.Unlock()
		sub.stop()
	}
}

// signal wakes every subscription.
func (ss *subscribers) signal() {
	ss.mu.Lock()
	for sub := range ss.m {
		select {
		case sub.signal <- struct{}{}:
		default:
		}
	}
	ss.mu.Unlock()
}

// stopAll ends every subscription and waits for their goroutines (Close).
func (ss *subscribers) stopAll() {
	ss.mu.Lock()
	subs := ss.m
	ss.m = nil
	ss.mu.Unlock()
	for sub := range subs {
		sub.stop()
		<-sub.stopped
	}
}

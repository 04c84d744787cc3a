package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// The bare relay: the floor any server on this WebSocket library stands on.
// Per connection one goroutine reads and one writes from a bounded queue;
// every frame is relayed as it is to every connection of its room, the
// sender included (that echo is the sender's "ack"). Nothing is parsed and
// nothing is stored. A connection whose queue is full is dropped, as the
// server drops a slow consumer.

const relayQueue = 128

type relayConn struct {
	q        chan []byte
	drop     chan struct{} // closed when the queue overflowed
	dropOnce sync.Once
}

type hub struct {
	mu    sync.RWMutex
	rooms map[string]map[*relayConn]struct{}
	conns atomic.Int64 // WebSocket connections open
}

func (h *hub) join(room string, c *relayConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		r = map[*relayConn]struct{}{}
		h.rooms[room] = r
	}
	r[c] = struct{}{}
}

func (h *hub) leave(room string, c *relayConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.rooms[room], c)
	if len(h.rooms[room]) == 0 {
		delete(h.rooms, room)
	}
}

func (h *hub) relay(room string, frame []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.rooms[room] {
		select {
		case c.q <- frame:
		default:
			// Too slow: its writer closes it, its reader ends, it leaves.
			c.dropOnce.Do(func() { close(c.drop) })
		}
	}
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	// Join before the handshake completes: once the client's dial returns,
	// it hears every frame of its room (frames queue until the writer runs).
	c := &relayConn{q: make(chan []byte, relayQueue), drop: make(chan struct{})}
	h.join(room, c)
	defer h.leave(room, c)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	h.conns.Add(1)
	defer h.conns.Add(-1)
	readerDone, writerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(writerDone)
		defer ws.CloseNow() // ends the reader too
		for {
			select {
			case f := <-c.q:
				if err := ws.Write(context.Background(), websocket.MessageText, f); err != nil {
					return
				}
			case <-c.drop:
				return
			case <-readerDone:
				return
			}
		}
	}()
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			break
		}
		h.relay(room, data)
	}
	close(readerDone)
	<-writerDone
}

// newRelay is the relay's handler: GET /relay?room=R and GET /healthz
// (with the number of connections).
func newRelay() http.Handler {
	h := &hub{rooms: map[string]map[*relayConn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","connections":%d}`, h.conns.Load())
	})
	mux.HandleFunc("GET /relay", h.serve)
	return mux
}

func relayMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	hs := &http.Server{Handler: newRelay(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return 0
}

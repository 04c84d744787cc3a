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
	ws *websocket.Conn
	q  chan []byte
}

type hub struct {
	mu    sync.RWMutex
	rooms map[string]map[*relayConn]struct{}
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
			c.ws.CloseNow() // too slow: its reader ends and it leaves
		}
	}
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &relayConn{ws: ws, q: make(chan []byte, relayQueue)}
	h.join(room, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case f := <-c.q:
				if err := ws.Write(context.Background(), websocket.MessageText, f); err != nil {
					ws.CloseNow()
					return
				}
			case <-r.Context().Done():
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
	h.leave(room, c)
	ws.CloseNow()
	<-done
}

func relayMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	h := &hub{rooms: map[string]map[*relayConn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /relay", h.serve)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

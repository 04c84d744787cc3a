package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/internal/stats"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/runtime/storage"
)

// benchConn is a raw protocol connection for benchmarks.
type benchConn struct {
	ws     *websocket.Conn
	client string
}

func benchDial(b *testing.B, s *servertest.Server, client string) *benchConn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + s.Key}}})
	if err != nil {
		b.Fatal(err)
	}
	ws.SetReadLimit(64 << 20)
	c := &benchConn{ws: ws, client: client}
	c.write(b, &protocol.Msg{T: protocol.THello, V: protocol.Version, Client: client})
	c.until(b, protocol.TWelcome)
	return c
}

func (c *benchConn) write(b *testing.B, m *protocol.Msg) {
	if err := c.ws.Write(context.Background(), websocket.MessageText, protocol.Encode(m)); err != nil {
		b.Error(err)
	}
}

func (c *benchConn) read() ([]protocol.Msg, error) {
	_, data, err := c.ws.Read(context.Background())
	if err != nil {
		return nil, err
	}
	return protocol.Decode(data)
}

func (c *benchConn) until(b *testing.B, typ string) {
	for {
		ms, err := c.read()
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ms {
			if m.T == typ {
				return
			}
			if m.T == protocol.TErr {
				b.Fatalf("err %s: %s", m.Code, m.Message)
			}
		}
	}
}

func restB(b *testing.B, s *servertest.Server, key, body string) (int, string) {
	req, _ := http.NewRequest("POST", s.HTTPURL+"/v1/namespaces/default/states/"+key+"/mutations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// benchServer starts an in-process server, or, with BS_BENCH_URL (the
// server's http:// base) and BS_BENCH_KEY, uses a server already running in
// another process, so that the load generator's CPU is measured apart.
func benchServer(b *testing.B) *servertest.Server {
	if u := os.Getenv("BS_BENCH_URL"); u != "" {
		b.Cleanup(http.DefaultClient.CloseIdleConnections)
		return &servertest.Server{HTTPURL: u, URL: "ws" + strings.TrimPrefix(u, "http") + "/v1/ws", Key: os.Getenv("BS_BENCH_KEY")}
	}
	return servertest.Start(b, servertest.Register(polls.Register), servertest.Config(func(c *server.Config) {
		c.Limits.MutationsPerSecond = 1e9
		c.Limits.MutationBurst = 1e9
		c.Limits.KeyMutationsPerSec = 1e9
		c.Limits.ActorMutationsPerSec = 1e9
		c.Limits.SendQueue = 1 << 20
		if s := os.Getenv("BS_BENCH_SYNC"); s != "" {
			c.Sync = s
		}
	}))
}

// BenchmarkDurableMutations measures mutations per second through the whole
// server (WebSocket, room, durable group-committed append, broadcast) from
// 100 connections spread over 1, 10 or 100 keys, each keeping 4 Vote mutations
// in flight; latency is from send to the sender's own ev (its ack).
func BenchmarkDurableMutations(b *testing.B) {
	for _, keys := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			s := benchServer(b)
			run := fmt.Sprint(time.Now().UnixNano())
			const conns = 100
			window := 4
			if w, err := strconv.Atoi(os.Getenv("BS_BENCH_WINDOW")); err == nil {
				window = w
			}
			cs := make([]*benchConn, conns)
			for i := range cs {
				cs[i] = benchDial(b, s, fmt.Sprint("c", i, "-", run))
				cs[i].write(b, &protocol.Msg{T: protocol.TSub, Key: fmt.Sprint("k", i%keys, "-", run), Type: polls.PollType.Name, FP: polls.PollType.Fingerprint})
				cs[i].until(b, protocol.TSynced)
			}
			for k := 0; k < keys; k++ {
				code, out := restB(b, s, fmt.Sprint("k", k, "-", run), `{"name":"Setup","args":{"question":"q","options":["a","b"]}}`)
				if code != 200 {
					b.Fatalf("setup: %d %s", code, out)
				}
			}
			per := b.N/conns + 1
			lat := make([][]time.Duration, conns)
			var wg sync.WaitGroup
			b.ResetTimer()
			for i, c := range cs {
				wg.Add(1)
				go func(i int, c *benchConn) {
					defer wg.Done()
					sent := make([]time.Time, per+1)
					credits := make(chan struct{}, window)
					for range window {
						credits <- struct{}{}
					}
					done := make(chan struct{})
					go func() {
						defer close(done)
						got := 0
						for got < per {
							ms, err := c.read()
							if err != nil {
								b.Error(err)
								return
							}
							for _, m := range ms {
								if m.T == protocol.TEv && m.Client == c.client {
									lat[i] = append(lat[i], time.Since(sent[m.Mid]))
									got++
									credits <- struct{}{}
								}
							}
						}
					}()
					key := fmt.Sprint("k", i%keys, "-", run)
					for mid := 1; mid <= per; mid++ {
						<-credits
						sent[mid] = time.Now()
						c.write(b, &protocol.Msg{T: protocol.TMut, Key: key, Mid: uint64(mid), Name: "Vote", Args: []byte(fmt.Sprintf(`{"option":%d}`, mid%2))})
					}
					<-done
				}(i, c)
			}
			wg.Wait()
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "muts/s")
			b.ReportMetric(float64(stats.Percentile(all, 0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(stats.Percentile(all, 0.99).Microseconds())/1000, "p99-ms")
			for _, c := range cs {
				c.ws.CloseNow()
			}
		})
	}
}

// BenchmarkBroadcast measures what one event costs per subscriber: one
// writer, N subscribers of its key, each event counted once every
// subscriber has it. ns/delivery is elapsed time over events × subscribers.
// BenchmarkBroadcast reports the time per event with N subscribers of its
// key (ns/event), and the slope from the previous N: what one more
// subscriber costs per event (ns/extra-delivery). Time over events ×
// subscribers would hide the fixed cost per event in the small counts.
func BenchmarkBroadcast(b *testing.B) {
	counts := []int{10, 100, 500}
	perEventAt := map[int]float64{} // the last run of each count
	for i, subs := range counts {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			s := servertest.Start(b, servertest.Register(polls.Register), servertest.Config(func(c *server.Config) {
				c.Limits.MutationsPerSecond = 1e9
				c.Limits.MutationBurst = 1e9
				c.Limits.KeyMutationsPerSec = 1e9
				c.Limits.ActorMutationsPerSec = 1e9
				c.Limits.SendQueue = 1 << 20
			}))
			if code, out := restB(b, s, "k", `{"type":"polls.Poll","name":"Setup","args":{"question":"q","options":["a","b"]}}`); code != 200 {
				b.Fatalf("setup: %d %s", code, out)
			}
			cs := make([]*benchConn, subs)
			for i := range cs {
				cs[i] = benchDial(b, s, fmt.Sprint("s", i))
				cs[i].write(b, &protocol.Msg{T: protocol.TSub, Key: "k", Type: polls.PollType.Name, FP: polls.PollType.Fingerprint})
				cs[i].until(b, protocol.TSynced)
			}
			w := cs[0]
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, c := range cs {
				wg.Add(1)
				go func(c *benchConn) {
					defer wg.Done()
					got := 0
					for got < b.N {
						ms, err := c.read()
						if err != nil {
							b.Error(err)
							return
						}
						for _, m := range ms {
							if m.T == protocol.TEv {
								got++
							}
						}
					}
				}(c)
			}
			for mid := 1; mid <= b.N; mid++ {
				w.write(b, &protocol.Msg{T: protocol.TMut, Key: "k", Mid: uint64(mid), Name: "Vote", Args: []byte(fmt.Sprintf(`{"option":%d}`, mid%2))})
			}
			wg.Wait()
			b.StopTimer()
			perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			perEventAt[subs] = perEvent
			b.ReportMetric(perEvent, "ns/event")
			if i > 0 {
				prev := counts[i-1]
				b.ReportMetric((perEvent-perEventAt[prev])/float64(subs-prev), "ns/extra-delivery")
			}
			for _, c := range cs {
				c.ws.CloseNow()
			}
		})
	}
}

// BenchmarkReplay measures how fast a key's state is rebuilt from its log
// without a snapshot: GET .../at/{seq} replays 100,000 counter events from
// the SQLite file each time (read, decode args, apply).
func BenchmarkReplay(b *testing.B) {
	const n = 100000
	path := filepath.Join(b.TempDir(), "replay.db")
	st, err := storage.OpenSQLite(path, storage.SQLiteOptions{Sync: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Write(ctx, &storage.Write{Namespace: "default", Key: "long", Create: &storage.StateMeta{Type: counter.CounterType.Name, Fingerprint: counter.CounterType.Fingerprint, Epoch: "e"}}); err != nil {
		b.Fatal(err)
	}
	for seq := uint64(1); seq <= n; {
		w := &storage.Write{Namespace: "default", Key: "long"}
		for range 5000 {
			w.Events = append(w.Events, storage.Event{Seq: seq, Client: "c", Mid: seq, Name: "Add", Args: []byte(`{"n":1}`), Time: 1, Actor: "a"})
			seq++
		}
		if err := st.Write(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	s := servertest.Start(b, servertest.Register(counter.Register), servertest.DBPath(path))
	url := fmt.Sprintf("%s/v1/namespaces/default/states/long/at/%d", s.HTTPURL, n)
	get := func() {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+s.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"n":%d`, n)) {
			b.Fatalf("%d %.200s", resp.StatusCode, body)
		}
	}
	get()
	b.ResetTimer()
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.Cleanup(http.DefaultClient.CloseIdleConnections)
}

package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures durable appends (synchronous=FULL) from 100
// concurrent writers over 1, 10 and 100 keys, with group commit and with
// one transaction per append.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []struct {
		name  string
		batch int
	}{{"group", 512}, {"tx-per-append", 1}} {
		for _, keys := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/keys=%d", mode.name, keys), func(b *testing.B) {
				st, err := OpenSQLite(filepath.Join(b.TempDir(), "b.db"), SQLiteOptions{MaxBatch: mode.batch})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				ctx := context.Background()
				seqs := make([]atomic.Uint64, keys)
				for k := 0; k < keys; k++ {
					if err := st.Write(ctx, &Write{Namespace: "ns", Key: fmt.Sprint("k", k), Create: &StateMeta{Type: "t", Fingerprint: "f", Epoch: "e"}}); err != nil {
						b.Fatal(err)
					}
				}
				const writers = 100
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for g := 0; g < writers; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						k := g % keys
						for next.Add(1) <= int64(b.N) {
							seq := seqs[k].Add(1)
							w := &Write{Namespace: "ns", Key: fmt.Sprint("k", k),
								Events: []Event{{Seq: seq, Client: "c", Mid: seq, Name: "Add", Args: []byte(`{"title":"x"}`), Time: 1, Actor: "a"}},
								Mids:   map[string]uint64{fmt.Sprint("c", g): seq}}
							if err := st.Write(ctx, w); err != nil {
								b.Error(err)
								return
							}
						}
					}(g)
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			})
		}
	}
}

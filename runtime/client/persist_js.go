//go:build js

package client

import (
	"errors"
	"fmt"
	"syscall/js"

	"github.com/better-state/better-state/internal/jsawait"
)

// idb is the browser's persister: an IndexedDB database per client slot,
// reached through the betterStateIDB helper that better-state.js installs
// (runtime/client/wasm). Each call waits for its transaction to complete,
// so a queued mutation is durable (IndexedDB's "strict" durability) before
// the action returns.
type idb struct {
	h  js.Value // the helper
	db js.Value // the IDBDatabase
}

// openDisk opens the IndexedDB database "better-state:" + dir.
func openDisk(dir, _ string) (persister, error) {
	h := js.Global().Get("betterStateIDB")
	if h.IsUndefined() {
		return nil, errors.New("client: no betterStateIDB in the page: load better-state.js before the client")
	}
	db, err := jsawait.Await(h.Call("open", "better-state:"+dir))
	if err != nil {
		return nil, fmt.Errorf("client: IndexedDB: %w", err)
	}
	return &idb{h: h, db: db}, nil
}

func (d *idb) call(method string, args ...any) (js.Value, error) {
	return jsawait.Await(d.h.Call(method, append([]any{d.db}, args...)...))
}

func (d *idb) meta(k string) (string, error) {
	v, err := d.call("meta", k)
	if err != nil || v.IsUndefined() || v.IsNull() {
		return "", err
	}
	return v.String(), nil
}

func (d *idb) setMeta(k, v string) error {
	_, err := d.call("setMeta", k, v)
	return err
}

func (d *idb) load(key string) (keyRow, []pendingRow, bool, error) {
	v, err := d.call("load", key)
	if err != nil || v.IsNull() || v.IsUndefined() {
		return keyRow{}, nil, false, err
	}
	row := v.Get("row")
	k := keyRow{Key: key, Type: row.Get("type").String(), Seq: uint64(row.Get("seq").Float()), Epoch: row.Get("epoch").String(), NextMid: uint64(row.Get("nextMid").Float())}
	if st := row.Get("state"); st.Type() == js.TypeString {
		k.State = []byte(st.String())
	}
	var pend []pendingRow
	ps := v.Get("pending")
	for i := range ps.Length() {
		p := ps.Index(i)
		pend = append(pend, pendingRow{Mid: uint64(p.Get("mid").Float()), Name: p.Get("name").String(), Args: []byte(p.Get("args").String()), Time: int64(p.Get("time").Float())})
	}
	return k, pend, true, nil
}

func jsPending(p pendingRow) map[string]any {
	return map[string]any{"mid": float64(p.Mid), "name": p.Name, "args": string(p.Args), "time": float64(p.Time)}
}

func (d *idb) enqueue(key, typ string, p pendingRow) error {
	_, err := d.call("enqueue", key, typ, jsPending(p))
	return err
}

func (d *idb) save(k keyRow, resolved uint64) error {
	var state any = js.Null()
	if k.State != nil {
		state = string(k.State)
	}
	_, err := d.call("save", map[string]any{"key": k.Key, "type": k.Type, "seq": float64(k.Seq), "epoch": k.Epoch, "state": state, "nextMid": float64(k.NextMid)}, float64(resolved))
	return err
}

func (d *idb) forget(key string, mid uint64) error {
	_, err := d.call("forget", key, float64(mid))
	return err
}

func (d *idb) renumber(key, typ string, pend []pendingRow, nextMid uint64) error {
	ps := make([]any, len(pend))
	for i, p := range pend {
		ps[i] = jsPending(p)
	}
	_, err := d.call("renumber", key, typ, ps, float64(nextMid))
	return err
}

func (d *idb) close() error {
	d.h.Call("close", d.db)
	return nil
}

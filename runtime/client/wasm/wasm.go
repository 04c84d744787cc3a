//go:build js && wasm

// Package wasm runs runtime/client in a web page, compiled to WebAssembly:
// the schema's own Go reducers run in the page, optimistically, and the
// queue is kept in IndexedDB. A schema's web build is a main that calls
// Main with its types (bsgen writes it: cmd/APP-wasm); the page loads it
// with better-state.js, and bsgen's APP.js gives it typed functions.
//
// Main installs globalThis.betterStateGo:
//
//	connect(url, {apiKey, token, dir, clientId}) -> Promise<client>
//	client.open(typeName, key) -> Promise<store>
//	client.status() -> {online, pending}; client.close() -> Promise
//	client.flush() -> Promise (saves the confirmed states now)
//	client.onReject(fn); client.onStatus(fn)
//	store.get() -> state; store.subscribe(fn) -> unsubscribe
//	store.mutate(action, argsJSON) -> Promise (rejects with {code, message})
//	store.pending(), store.seq()
//
// get, pending, seq and status read a copy that the bridge keeps up to date
// (after a change, the copy follows within a turn of the event loop): a
// call from JavaScript must not wait for the client's locks.
//
// Every function that waits returns a Promise and works on a goroutine of
// its own: a callback from JavaScript must not block.
package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall/js"

	"github.com/better-state/better-state/internal/jsawait"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/contract"
)

// Main installs the bridge for types and blocks forever (a WebAssembly main
// that returns ends the program).
func Main(types ...*contract.Type) {
	byName := map[string]*contract.Type{}
	for _, t := range types {
		byName[t.Name] = t
	}
	js.Global().Set("betterStateGo", js.ValueOf(map[string]any{
		"connect": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) < 1 {
				return reject(errors.New("connect(url, options)"))
			}
			url := args[0].String()
			opts := js.Undefined()
			if len(args) > 1 {
				opts = args[1]
			}
			return promise(func() (any, error) { return connect(url, opts, byName) })
		}),
	}))
	if ready := js.Global().Get("betterStateReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {}
}

func str(v js.Value, k string) string {
	if v.Type() != js.TypeObject {
		return ""
	}
	if f := v.Get(k); f.Type() == js.TypeString {
		return f.String()
	}
	return ""
}

func connect(url string, o js.Value, types map[string]*contract.Type) (any, error) {
	var onReject, onStatus js.Value
	var online atomic.Bool
	var views sync.Map   // *client.Store -> *storeView
	var handles sync.Map // *client.Store -> js.Value
	opts := client.Options{
		APIKey:   str(o, "apiKey"),
		Dir:      str(o, "dir"),
		ClientID: str(o, "clientId"),
		OnReject: func(r client.Rejection) {
			if onReject.Type() == js.TypeFunction {
				safeInvoke(onReject, map[string]any{"key": r.Key, "mid": float64(r.Mid), "action": r.Action, "code": r.Code, "message": r.Message})
			}
		},
		OnStatus: func(up bool) {
			online.Store(up)
			if onStatus.Type() == js.TypeFunction {
				safeInvoke(onStatus, up)
			}
		},
	}
	switch tok := o.Get("token"); {
	case tok.Type() == js.TypeFunction:
		// A function gives a fresh token for each connection, and
		// before the last expires.
		opts.TokenSource = func(context.Context) (string, error) {
			v, err := jsawait.Await(safeInvoke(tok))
			if err != nil {
				return "", err
			}
			return v.String(), nil
		}
	case tok.Type() == js.TypeString && tok.String() != "":
		t := tok.String()
		opts.TokenSource = func(context.Context) (string, error) { return t, nil }
	}
	c, err := client.New(url, opts)
	if err != nil {
		return nil, err
	}
	h := map[string]any{
		"id": c.ID(),
		"open": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) < 2 {
				return reject(errors.New("open(typeName, key)"))
			}
			name, key := args[0].String(), args[1].String()
			return promise(func() (any, error) {
				t, ok := types[name]
				if !ok {
					return nil, fmt.Errorf("this build has no state type %q", name)
				}
				s, err := c.Open(t, key)
				if err != nil {
					return nil, err
				}
				// Opening a key again gives its handle again: one
				// subscription and one set of functions per store.
				if h, ok := handles.Load(s); ok {
					return h, nil
				}
				h := storeHandle(s, &views)
				handles.Store(s, h)
				return h, nil
			})
		}),
		"status": js.FuncOf(func(js.Value, []js.Value) any {
			// From the copies: Status would wait for the stores' locks.
			n := 0
			views.Range(func(_, v any) bool {
				sv := v.(*storeView)
				sv.mu.Lock()
				n += sv.pending
				sv.mu.Unlock()
				return true
			})
			return map[string]any{"online": online.Load(), "pending": n}
		}),
		"onReject": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) > 0 {
				onReject = args[0]
			}
			return nil
		}),
		"onStatus": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) > 0 {
				onStatus = args[0]
			}
			return nil
		}),
		"flush": js.FuncOf(func(js.Value, []js.Value) any {
			return promise(func() (any, error) { return nil, c.Flush() })
		}),
		"close": js.FuncOf(func(js.Value, []js.Value) any {
			return promise(func() (any, error) { return nil, c.Close() })
		}),
	}
	return js.ValueOf(h), nil
}

// parse turns a state into a JavaScript value through its JSON encoding,
// as the server and other clients see it.
func parse(t *contract.Type, v any) js.Value {
	b, err := t.Encode(v)
	if err != nil {
		return js.Null()
	}
	return js.Global().Get("JSON").Call("parse", string(b))
}

// storeView is what a page reads of a store without waiting. A call from
// JavaScript runs on the page's only thread: it must never wait for a lock
// that a goroutine holds while it waits for JavaScript (Mutate holds the
// store's while IndexedDB commits), or the page deadlocks. So the page
// reads this copy, which a goroutine of the bridge keeps up to date.
type storeView struct {
	mu      sync.Mutex
	state   js.Value
	pending int
	seq     uint64
	fns     map[int]js.Value
	next    int
}

// storeHandle runs on a goroutine (not in a call from JavaScript): it may
// wait for the store.
func storeHandle(s *client.Store, views *sync.Map) js.Value {
	t := s.Type()
	// The copy starts with the state now, so that get() is never empty.
	v := &storeView{state: parse(t, s.View()), pending: s.Pending(), seq: s.Seq(), fns: map[int]js.Value{}}
	views.Store(s, v)
	// One subscription feeds the copy and the page's subscribers.
	s.Subscribe(func(view any) {
		state := parse(t, view)
		p, q := s.Pending(), s.Seq()
		v.mu.Lock()
		if !state.IsNull() {
			v.state = state
		}
		v.pending, v.seq = p, q
		state = v.state
		fns := make([]js.Value, 0, len(v.fns))
		for _, fn := range v.fns {
			fns = append(fns, fn)
		}
		v.mu.Unlock()
		for _, fn := range fns {
			safeInvoke(fn, state)
		}
	})
	read := func(f func() any) js.Func {
		return js.FuncOf(func(js.Value, []js.Value) any {
			v.mu.Lock()
			defer v.mu.Unlock()
			return f()
		})
	}
	return js.ValueOf(map[string]any{
		"key":     s.Key(),
		"get":     read(func() any { return v.state }),
		"pending": read(func() any { return v.pending }),
		"seq":     read(func() any { return float64(v.seq) }),
		"subscribe": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) < 1 || args[0].Type() != js.TypeFunction {
				return js.Undefined()
			}
			v.mu.Lock()
			id := v.next
			v.next++
			v.fns[id] = args[0]
			v.mu.Unlock()
			var unsub js.Func
			unsub = js.FuncOf(func(js.Value, []js.Value) any {
				v.mu.Lock()
				_, ok := v.fns[id]
				delete(v.fns, id)
				v.mu.Unlock()
				if ok {
					unsub.Release()
				}
				return nil
			})
			return unsub
		}),
		"mutate": js.FuncOf(func(_ js.Value, args []js.Value) any {
			if len(args) < 1 {
				return reject(errors.New("mutate(action, argsJSON)"))
			}
			action := args[0].String()
			raw := "{}"
			if len(args) > 1 && args[1].Type() == js.TypeString {
				raw = args[1].String()
			}
			return promise(func() (any, error) { return nil, s.Mutate(action, json.RawMessage(raw)) })
		}),
	})
}

// promise runs fn on a goroutine and settles a Promise with its result; an
// error rejects it with {code, message} (code empty for errors that are
// not the server's or a refusal's).
func promise(fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, rej := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				rej.Invoke(errorValue(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	// The Promise constructor calls the executor before it returns.
	p := js.Global().Get("Promise").New(executor)
	executor.Release()
	return p
}

// safeInvoke calls a function of the page's, which may throw: an exception
// in the app's render must not end the Go program (Invoke panics on it).
func safeInvoke(fn js.Value, args ...any) (v js.Value) {
	defer func() {
		if r := recover(); r != nil {
			js.Global().Get("console").Call("error", fmt.Sprintf("better-state: a callback threw: %v", r))
			v = js.Undefined()
		}
	}()
	return fn.Invoke(args...)
}

func reject(err error) js.Value {
	return js.Global().Get("Promise").Call("reject", errorValue(err))
}

func errorValue(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	code := contract.ErrCode(err)
	var se *client.ServerError
	if errors.As(err, &se) {
		code = se.Code
	}
	e.Set("code", code)
	return e
}

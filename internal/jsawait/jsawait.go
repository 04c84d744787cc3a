//go:build js

// Package jsawait waits for JavaScript promises from Go compiled to
// WebAssembly: the client's IndexedDB store and its bridge to the page.
package jsawait

import (
	"errors"
	"syscall/js"
)

// Await waits for p if it is a promise (a value with then), and returns
// any other value as it is. It must not run on the goroutine of a call
// from JavaScript, whose thread the promise needs.
func Await(p js.Value) (js.Value, error) {
	if p.Type() != js.TypeObject || p.Get("then").Type() != js.TypeFunction {
		return p, nil
	}
	done := make(chan struct{})
	var res js.Value
	var err error
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			res = args[0]
		}
		close(done)
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		err = errors.New("rejected")
		if len(args) > 0 && args[0].Truthy() {
			err = errors.New(args[0].Call("toString").String())
		}
		close(done)
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	<-done
	return res, err
}

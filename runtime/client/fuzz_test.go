package client_test

import (
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
)

// FuzzServerFrames hands a client, online with two open stores, whatever
// frame a server (or anyone on a ws:// path) might send. Nothing may panic,
// and the stores stay usable: an action still applies to the view.
func FuzzServerFrames(f *testing.F) {
	for _, s := range []string{
		`[]`, `{}`, `null`, `[null]`, `[[]]`, `{"t":"ev"}`,
		`{"t":"ev","key":"a","seq":1,"client":"x","mid":1,"name":"Add","args":{"title":"t"}}`,
		`{"t":"ev","key":"a","seq":1,"name":"Add","args":{"title":"t"},"hash":"00"}`,
		`{"t":"ev","key":"a","seq":18446744073709551615,"name":"Nope","args":[1]}`,
		`{"t":"snap","key":"a","seq":3,"epoch":"e","state":{"items":[{"id":"1"}]}}`,
		`{"t":"snap","key":"b","seq":3,"state":"not a state"}`,
		`[{"t":"synced","key":"a","seq":0,"mid":99},{"t":"rej","key":"a","mid":1}]`,
		`{"t":"synced","key":"a","seq":5,"epoch":"x","mid":0}`,
		`{"t":"err","key":"a","code":"reset"}`,
		`{"t":"err","code":"replaced","fatal":true}`,
		`{"t":"err","key":"b","code":"mid_gap","mid":0}`,
		`{"t":"welcome"}`, "\xff\xfe", `[{"t":"ev","key":"a","seq":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := client.NewSimClient(client.Options{ClientID: "fz", Logger: quiet}, client.SimOptions{
			Now:   func() time.Time { return time.UnixMilli(1) },
			Later: func(time.Duration, func()) {},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a, err := client.Open[todos.List](c, todos.ListType, "a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Open[todos.List](c, todos.ListType, "b"); err != nil {
			t.Fatal(err)
		}
		l := &client.SimLink{Send: func([]byte) error { return nil }, Close: func() {}}
		if err := c.Attach(l, []byte(`{"t":"welcome","v":1,"client":"fz"}`)); err != nil {
			t.Fatal(err)
		}
		c.Deliver(l, frame)
		c.Deliver(l, frame)
		if err := a.Mutate(todos.ListAddArgs{Title: "still works"}); err != nil {
			t.Fatalf("after %q the store refuses an action: %v", frame, err)
		}
		if v := a.Get(); len(v.Items) == 0 || v.Items[len(v.Items)-1].Title != "still works" {
			t.Fatalf("after %q the view lost the action: %+v", frame, v.Items)
		}
	})
}

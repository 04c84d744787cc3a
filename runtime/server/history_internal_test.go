package server

import (
	"encoding/json"
	"testing"

	"github.com/better-state/better-state/runtime/storage"
)

// History pages write events by hand; they must read as encoding/json
// writes storage.Event.
func TestAppendEventIsEncodingJSON(t *testing.T) {
	for _, e := range []storage.Event{
		{Seq: 1, Client: "c", Mid: 2, Name: "Add", Args: json.RawMessage(`{"title":"x"}`), Time: 3, Actor: "a"},
		{Seq: 1 << 62, Client: "", Name: "Ünïcode<&>\"\\\n", Args: json.RawMessage(`{}`), Time: -1, Actor: "\u2028"},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, &e); string(got) != string(want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}

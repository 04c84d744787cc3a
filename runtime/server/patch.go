package server

// The patch mode of a subscription (docs/PROTOCOL.md, "Following a state
// without its reducers"): instead of ev, a subscriber gets patch, the
// event with the RFC 6902 operations that turn the state before it into
// the state after it. Clients that cannot run the Go reducers (a browser,
// another language) follow the state exactly with it.

import (
	"bytes"
	"encoding/json"

	"github.com/wI2L/jsondiff"

	"github.com/better-state/better-state/runtime/protocol"
)

// subMode is what a subscriber asked for: patches instead of events, and
// presence.
type subMode struct {
	patch, presence bool
}

// addSub makes c a subscriber; a subscriber that subscribes again may
// change modes.
func (r *room) addSub(c *conn, mode subMode) {
	r.dropSub(c)
	r.subs[c] = mode
	if mode.patch {
		r.npatch++
	}
}

func (r *room) dropSub(c *conn) {
	if mode, ok := r.subs[c]; ok {
		delete(r.subs, c)
		if mode.patch {
			r.npatch--
		}
	}
}

// patchFrame returns the patch message of ev, the event that took the state
// from the encoding before to the encoding after.
func (r *room) patchFrame(ev *protocol.Msg, before, after []byte) []byte {
	ops, err := statePatch(before, after)
	if err != nil {
		// A bug: both are the server's own encodings. The whole state
		// still takes the client there.
		r.srv.log.Error("computing a state patch failed; sending the whole state", "ns", r.id.ns, "key", r.id.key, "seq", ev.Seq, "err", err)
		ops = replaceAll(after)
	}
	p := *ev
	p.T, p.Ops = protocol.TPatch, ops
	return protocol.Encode(&p)
}

// statePatch returns the JSON Patch from the state encoded as before to the
// state encoded as after, computed by github.com/wI2L/jsondiff with its
// default options: add, remove and replace operations, arrays compared
// index by index. Numbers are kept as written (json.Number), never rounded
// through float64. Its cost is linear in the size of the states (measured
// in BenchmarkStatePatch; the library's Rationalize and LCS options were
// ten times slower on a 1,000-item list, and LCS is quadratic in memory).
// Index by index, removing the first of n items replaces the n-1 after
// it: operations longer than one replace of the whole document are sent as
// that replace instead.
func statePatch(before, after []byte) (json.RawMessage, error) {
	p, err := jsondiff.CompareJSON(before, after, jsondiff.UnmarshalFunc(decodeNumbers))
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return json.RawMessage("[]"), nil
	}
	ops, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if all := replaceAll(after); len(ops) > len(all) {
		return all, nil
	}
	return ops, nil
}

// replaceAll is the patch that replaces the whole document by state.
func replaceAll(state []byte) json.RawMessage {
	ops := append([]byte(`[{"op":"replace","path":"","value":`), state...)
	return append(ops, "}]"...)
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

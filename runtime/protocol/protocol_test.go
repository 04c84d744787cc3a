package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestDecodeSingleAndBatch(t *testing.T) {
	one := Encode(&Msg{T: TEv, Key: "k", Seq: 3, Args: json.RawMessage(`{"a":1}`)})
	two := Encode(&Msg{T: TSynced, Key: "k", Seq: 3, Epoch: "e"})
	ms, err := Decode(Batch([][]byte{one, two}))
	if err != nil || len(ms) != 2 || ms[0].Seq != 3 || ms[1].T != TSynced {
		t.Fatalf("%v %+v", err, ms)
	}
	for _, bad := range []string{``, `{`, `{"key":"k"}`, `[{"t":"ev"},{}]`, `3`, `"x"`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// FuzzDecode: no frame makes Decode panic, and whatever decodes encodes and
// decodes back to the same messages.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"t":"hello","v":1,"client":"c"}`,
		`{"t":"sub","key":"k","type":"todos.List","fp":"x","after":3,"epoch":"e","acked":2}`,
		`{"t":"mut","key":"k","mid":1,"name":"Add","args":{"title":"x"}}`,
		`[{"t":"ev","key":"k","seq":1},{"t":"synced","key":"k","seq":1}]`,
		`{"t":"snap","state":{"items":[]}}`,
		`{"t":"err","code":"bad_message","fatal":true}`,
		`{"t":1}`, `[]`, `null`, `{"t":"mut","args":[1,2`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		ms, err := Decode(frame)
		if err != nil {
			return
		}
		frames := make([][]byte, len(ms))
		for i := range ms {
			frames[i] = Encode(&ms[i])
		}
		again, err := Decode(Batch(frames))
		if err != nil {
			t.Fatalf("re-encoded messages do not decode: %v", err)
		}
		if len(again) != len(ms) {
			t.Fatalf("%d messages became %d", len(ms), len(again))
		}
		for i := range ms {
			a, b := ms[i], again[i]
			if !bytes.Equal(compact(a.Args), compact(b.Args)) || !bytes.Equal(compact(a.State), compact(b.State)) {
				t.Fatalf("raw fields changed: %q vs %q", a.Args, b.Args)
			}
			a.Args, b.Args, a.State, b.State = nil, nil, nil, nil
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("message changed:\n%+v\n%+v", a, b)
			}
		}
	})
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

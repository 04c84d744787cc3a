package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gowebpki/jcs"
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
			normalize(&a)
			normalize(&b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("message changed:\n%+v\n%+v", a, b)
			}
		}
	})
}

// normalize compacts m's raw JSON fields and makes its empty lists nil:
// what may differ between two encodings of one message.
func normalize(m *Msg) {
	for _, r := range []*json.RawMessage{&m.Args, &m.State, &m.Ops, &m.Data} {
		*r = compact(*r)
	}
	for i := range m.Members {
		m.Members[i].Data = compact(m.Members[i].Data)
	}
	if len(m.Members) == 0 {
		m.Members = nil
	}
	if len(m.Left) == 0 {
		m.Left = nil
	}
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

// FuzzFastPaths holds the fast decoder and encoder to encoding/json: what
// decodeFast accepts, json accepts with the same result; what appendMsg
// writes, json reads back as the same message.
func FuzzFastPaths(f *testing.F) {
	for _, s := range []string{
		`{"t":"hello","v":1,"client":"c"}`,
		`{"t":"sub","key":"k","type":"todos.List","fp":"x","after":3,"epoch":"e","acked":2,"snap":true}`,
		`{"t":"mut","key":"k","mid":1,"name":"Add","args":{"title":"x \"q\" <b>"}}`,
		`[{"t":"ev","key":"k","seq":1,"time":-5,"args":[1,{"a":"]"}]},{"t":"synced","key":"k","seq":1}]`,
		`{"t":"snap","state":{"items":[]}, "seq": 18446744073709551615}`,
		`{"t":"sub","key":"k","type":"todos.List","mode":"patch"}`,
		`{"t":"pset","key":"k","data":{"name":"ann","at":[1,2]}}`, `{"t":"pset","key":"k","data":null}`,
		`{"t":"presence","key":"k","full":true,"members":[{"client":"c1","actor":"a","data":{"x":1}},{"client":"c2"}],"left":["c3","\u00e9"]}`,
		`{"t":"patch","key":"k","seq":2,"mid":1,"name":"Add","args":{},"ops":[{"op":"add","path":"/items/-","value":{"id":"x"}}]}`,
		`{"t":"err","code":"bad_message","msg":"x","fatal":false}`,
		`{"t":"ev","seq":01}`, `{"t":"ev","seq":1.5}`, `{"T":"ev"}`, `{"t":"ev","args":null}`,
		`{"t":"é"}`, `{"t":"a\nb"}`, `{"t":"x","seq":-1}`, ` [ ] `, `{}`, `{"t":"x",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fast, ok := decodeFast(frame)
		if ok {
			var ref []Msg
			b := bytes.TrimSpace(frame)
			var err error
			if len(b) > 0 && b[0] == '[' {
				err = json.Unmarshal(frame, &ref)
			} else {
				var m Msg
				err = json.Unmarshal(frame, &m)
				ref = []Msg{m}
			}
			if err != nil {
				t.Fatalf("fast path accepted what json refuses (%v): %q", err, frame)
			}
			if len(ref) == 0 {
				ref = nil
			}
			if len(fast) == 0 {
				fast = nil
			}
			if !reflect.DeepEqual(fast, ref) {
				t.Fatalf("fast %+v\njson %+v", fast, ref)
			}
		}
		ms, err := Decode(frame)
		if err != nil {
			return
		}
		for i := range ms {
			enc := Encode(&ms[i])
			var back Msg
			if err := json.Unmarshal(enc, &back); err != nil {
				t.Fatalf("Encode wrote invalid JSON %q: %v", enc, err)
			}
			want := ms[i]
			normalize(&want)
			normalize(&back)
			if !reflect.DeepEqual(want, back) {
				t.Fatalf("Encode %q reads back as %+v, not %+v", enc, back, want)
			}
		}
	})
}

func BenchmarkDecodeMut(b *testing.B) {
	frame := []byte(`{"t":"mut","key":"w-abc-17","mid":12345,"name":"Add","args":{"n":1}}`)
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEv(b *testing.B) {
	m := &Msg{T: TEv, Key: "w-abc-17", Seq: 99881, Client: "bench-abc-17", Mid: 12345, Name: "Add", Args: json.RawMessage(`{"n":1}`), Time: 1764050000000, Actor: "admin"}
	for b.Loop() {
		Encode(m)
	}
}

// The state hash test vector of docs/PROTOCOL.md: Go's encoding escapes
// <, > and &, orders keys by Go field order and writes 1e21 as 1e+21; the
// canonical form (RFC 8785) is what is hashed.
func TestStateHashVector(t *testing.T) {
	goJSON := []byte(`{"title":"a \u003cb\u003e \u0026 c","n":1e+21,"done":false,"é":[1.5,-0,100]}`)
	const canonical = `{"done":false,"n":1e+21,"title":"a <b> & c","é":[1.5,0,100]}`
	const want = "5614ba3b4f8864ee" // also: printf %s "$canonical" | sha256sum; and Node's JSON.stringify of the value
	c, err := jcs.Transform(goJSON)
	if err != nil || string(c) != canonical {
		t.Fatalf("canonical form %s (%v), want %s", c, err, canonical)
	}
	if got := StateHash(goJSON); got != want {
		t.Fatalf("StateHash = %s, want %s", got, want)
	}
	if StateHash([]byte(canonical)) != StateHash(goJSON) {
		t.Fatal("the same value in two encodings hashes differently")
	}
}

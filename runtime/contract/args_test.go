package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

type flatArgs struct {
	ID    string   `json:"id"`
	N     int      `json:"n"`
	Tags  []string `json:"tags"`
	Ok    *bool    `json:"ok"`
	Plain float64
}

type nestedArgs struct {
	Inner struct {
		A int `json:"a"`
	} `json:"inner"`
}

// strictRef is DecodeArgs's Decoder path alone: the reference.
func strictRef(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if data[0] != '{' {
		return Errorf(CodeBadArgs, "not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return Errorf(CodeBadArgs, "trailing")
	}
	return nil
}

func checkSame(t *testing.T, data []byte) {
	var fast, ref flatArgs
	errFast := DecodeArgs("X", data, &fast)
	errRef := strictRef(data, &ref)
	if (errFast == nil) != (errRef == nil) {
		t.Fatalf("%q: fast path err %v, Decoder err %v", data, errFast, errRef)
	}
	if errFast == nil && !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%q: fast path %+v, Decoder %+v", data, fast, ref)
	}
}

func TestDecodeArgsFastPathMatchesDecoder(t *testing.T) {
	for _, in := range argCorpus {
		checkSame(t, []byte(in))
	}
	if computeFields(reflect.TypeFor[*nestedArgs]()) != nil {
		t.Fatal("a struct with a struct field took the fast path")
	}
	var n nestedArgs
	if err := DecodeArgs("X", []byte(`{"inner":{"a":1,"b":2}}`), &n); err == nil {
		t.Fatal("an unknown nested field was accepted")
	}
}

var argCorpus = []string{
	`{}`, `{"id":"a","n":3}`, `{"ID":"a"}`, `{"Id":"a","N":1}`, `{"plain":1.5}`, `{"Plain":2}`,
	`{"nope":1}`, `{"id":"a","nope":{"x":[1,2,{"y":"}"}]}}`, `{"tags":["a","b\"c"],"ok":true}`,
	`{"id":"a"} x`, `{"id":"a"}{}`, `{"id":"a",}`, `{"id" "a"}`, `{"id":1}`, `{"n":"x"}`,
	`{"i\u0064":"esc"}`, `{"\u006eope":1}`, `{"id":"a","id":"b"}`, ` { "id" : "sp" , "n" : -2 } `,
	`{"tags":null,"ok":null}`, `{"n":1e400}`, `{"ok":tru}`, `{"id":"unterminated}`, `{"n":[1}`,
	`{"n":1,"tags":[],"ok":false,"plain":0}`, `{"tags":[{"a":1}]}`,
}

func FuzzDecodeArgsFastPath(f *testing.F) {
	for _, in := range argCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkSame(t, data) })
}

// BenchmarkDecodeArgs compares the fast path with the Decoder path.
func BenchmarkDecodeArgs(b *testing.B) {
	data := []byte(`{"id":"k3j4","n":12}`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var a flatArgs
			if err := DecodeArgs("X", data, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			var a flatArgs
			if err := strictRef(data, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package contract_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/contract"
)

// The generated decoders are held to a reference: encoding/json with
// unknown fields refused, plus what encoding/json lets pass and the
// generated code refuses on purpose: a key in another case, and a key
// given twice.

// refDecode is the reference: keys exactly the envelope's JSON names, each
// once, then encoding/json strictly.
func refDecode(data []byte, v any, names ...string) error {
	data = bytes.Trim(data, " \t\r\n") // JSON's whitespace, not Unicode's
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		key := k.(string)
		if seen[key] || !contains(names, key) {
			return contract.Errorf(contract.CodeBadArgs, "key %q", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	strict := json.NewDecoder(bytes.NewReader(data))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[strict.InputOffset():])) > 0 {
		return contract.Errorf(contract.CodeBadArgs, "trailing")
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var argCorpus = []string{
	``, `null`, `{}`, ` { } `, `{"id":"a","title":"t"}`, `{"ID":"a"}`, `{"Title":"x"}`,
	`{"id":"a","id":"b"}`, `{"id":"a","nope":1}`, `{"id":"a"} x`, `{"id":"a"}{}`,
	`{"id":"a",}`, `{"id" "a"}`, `{"id":1}`, `{"i\u0064":"esc"}`, `{"id":"caf\u00e9"}`,
	`{"id":"tab\t"}`, `{"id":null}`, `{"id":"unterminated}`, `["a"]`, `"a"`, `{"id":"a"`,
	`{"option":1}`, `{"option":-0}`, `{"option":01}`, `{"option":1.0}`, `{"option":1e2}`,
	`{"option":9223372036854775808}`, `{"option":"1"}`, `{"option":true}`,
	`{"question":"q","options":["a","b\"c"]}`, `{"options":[1]}`, `{"options":null}`,
	`{"options":["a",]}`, `{"question":"q","options":["a"],"question":"r"}`,
}

func check(t *testing.T, data []byte) {
	{
		var got, want todos.ListRenameArgs
		errGot := contract.DecodeArgs("Rename", data, &got)
		errWant := refDecode(data, &want, "id", "title")
		if (errGot == nil) != (errWant == nil) || !reflect.DeepEqual(got, want) && errGot == nil {
			t.Fatalf("Rename %q: generated %+v %v, reference %+v %v", data, got, errGot, want, errWant)
		}
		if errGot != nil && contract.ErrCode(errGot) != contract.CodeBadArgs {
			t.Fatalf("Rename %q: %v is not bad_args", data, errGot)
		}
	}
	{
		var got, want polls.PollVoteArgs
		errGot := contract.DecodeArgs("Vote", data, &got)
		errWant := refDecode(data, &want, "option")
		if (errGot == nil) != (errWant == nil) || !reflect.DeepEqual(got, want) && errGot == nil {
			t.Fatalf("Vote %q: generated %+v %v, reference %+v %v", data, got, errGot, want, errWant)
		}
	}
	{
		var got, want polls.PollSetupArgs
		errGot := contract.DecodeArgs("Setup", data, &got)
		errWant := refDecode(data, &want, "question", "options")
		if (errGot == nil) != (errWant == nil) || !reflect.DeepEqual(got, want) && errGot == nil {
			t.Fatalf("Setup %q: generated %+v %v, reference %+v %v", data, got, errGot, want, errWant)
		}
	}
}

func TestGeneratedDecodersMatchTheReference(t *testing.T) {
	for _, in := range argCorpus {
		check(t, []byte(in))
	}
}

func FuzzGeneratedDecoders(f *testing.F) {
	for _, in := range argCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data) })
}

// BenchmarkDecodeArgs compares a generated decoder with encoding/json's
// strict Decoder (what a type without UnmarshalArgs gets).
func BenchmarkDecodeArgs(b *testing.B) {
	data := []byte(`{"id":"k3j4abcd","title":"buy milk"}`)
	b.Run("generated", func(b *testing.B) {
		for b.Loop() {
			var a todos.ListRenameArgs
			if err := a.UnmarshalArgs("Rename", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-strict", func(b *testing.B) {
		type plainRename struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		for b.Loop() {
			var a plainRename
			if err := contract.DecodeArgs("Rename", data, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

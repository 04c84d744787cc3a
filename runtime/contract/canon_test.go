package contract_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/better-state/better-state/runtime/contract"
)

func TestCheckJSON(t *testing.T) {
	for _, ok := range []string{`{}`, `[]`, `{"a":[1,{"b":null}],"c":"\/\u0041\ud83d\ude00"}`, `{"a":1,"b":{"a":2}}`} {
		if err := contract.CheckJSON([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `{"a":"\udc00x"}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"x":[{"k":1,"k":1}]}`, `{`, strings.Repeat("[", 200) + strings.Repeat("]", 200)} {
		if err := contract.CheckJSON([]byte(bad)); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
	// Many keys, one repeated at the end: found, in linear time.
	var b strings.Builder
	b.WriteString("{")
	for i := range 50000 {
		fmt.Fprintf(&b, "%q:1,", fmt.Sprint("k", i))
	}
	b.WriteString(`"k7":2}`)
	if err := contract.CheckJSON([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "k7") {
		t.Fatalf("a repeated key among 50,000: %v", err)
	}
}

// BenchmarkCheckJSONManyKeys is the worst object a 1 MiB frame can hold:
// tens of thousands of short keys. It must stay linear.
func BenchmarkCheckJSONManyKeys(b *testing.B) {
	var s strings.Builder
	s.WriteString("{")
	for i := range 80000 {
		if i > 0 {
			s.WriteString(",")
		}
		fmt.Fprintf(&s, "%q:1", fmt.Sprint("k", i))
	}
	s.WriteString("}")
	data := []byte(s.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := contract.CheckJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

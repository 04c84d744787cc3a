package protocol

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// Fast paths for the messages every mutation crosses: the server decodes a
// mut and encodes an ev per mutation, and encoding/json's reflection was
// about a tenth of its CPU time. decodeFast reads the messages this package
// writes and plain clients send: known fields, strings without escapes or
// non-ASCII bytes, integers. Anything else, it gives up on and Decode uses
// encoding/json; FuzzFastDecode holds it to encoding/json's answers.

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string with no escapes, control or non-ASCII bytes.
func (p *parser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			p.i = j + 1
			return string(p.b[start:j]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// uint reads a JSON integer without sign, fraction or exponent.
func (p *parser) uint() (uint64, bool) {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j-p.i > 1) {
		return 0, false
	}
	if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	p.i = j
	return v, true
}

func (p *parser) int() (int64, bool) {
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	u, ok := p.uint()
	if !ok || u > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

func (p *parser) bool() (bool, bool) {
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		return true, true
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
		return false, true
	}
	return false, false
}

// raw reads an object or array value, valid JSON, and copies it.
func (p *parser) raw() (json.RawMessage, bool) {
	if p.i >= len(p.b) || (p.b[p.i] != '{' && p.b[p.i] != '[') {
		return nil, false
	}
	start, depth := p.i, 0
	for j := start; j < len(p.b); j++ {
		switch p.b[j] {
		case '"':
			for j++; j < len(p.b) && p.b[j] != '"'; j++ {
				if p.b[j] == '\\' {
					j++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				v := p.b[start : j+1]
				if !json.Valid(v) {
					return nil, false
				}
				p.i = j + 1
				return append(json.RawMessage(nil), v...), true
			}
		}
	}
	return nil, false
}

// msg reads one message object.
func (p *parser) msg(m *Msg) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	for {
		p.ws()
		k, ok := p.str()
		if !ok || !p.eat(':') {
			return false
		}
		p.ws()
		if !p.field(m, k) {
			return false
		}
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

func (p *parser) field(m *Msg, k string) bool {
	var ok bool
	var s *string
	switch k {
	case "t":
		s = &m.T
	case "key":
		s = &m.Key
	case "client":
		s = &m.Client
	case "auth":
		s = &m.Auth
	case "ns":
		s = &m.Namespace
	case "type":
		s = &m.Type
	case "fp":
		s = &m.FP
	case "epoch":
		s = &m.Epoch
	case "name":
		s = &m.Name
	case "actor":
		s = &m.Actor
	case "hash":
		s = &m.Hash
	case "code":
		s = &m.Code
	case "msg":
		s = &m.Message
	case "mode":
		s = &m.Mode
	case "after":
		m.After, ok = p.uint()
	case "acked":
		m.Acked, ok = p.uint()
	case "mid":
		m.Mid, ok = p.uint()
	case "seq":
		m.Seq, ok = p.uint()
	case "v":
		var v int64
		v, ok = p.int()
		m.V = int(v)
	case "time":
		m.Time, ok = p.int()
	case "snap":
		m.Snap, ok = p.bool()
	case "fatal":
		m.Fatal, ok = p.bool()
	case "args":
		m.Args, ok = p.raw()
	case "state":
		m.State, ok = p.raw()
	case "ops":
		m.Ops, ok = p.raw()
	case "data":
		m.Data, ok = p.raw()
	case "full":
		m.Full, ok = p.bool()
	case "presence":
		m.Presence, ok = p.bool()
	default:
		return false
	}
	if s != nil {
		*s, ok = p.str()
	}
	return ok
}

// decodeFast decodes a frame, or reports false for encoding/json to do it.
func decodeFast(frame []byte) ([]Msg, bool) {
	p := &parser{b: frame}
	var ms []Msg
	if p.eat('[') {
		if !p.eat(']') {
			for {
				ms = append(ms, Msg{})
				if !p.msg(&ms[len(ms)-1]) {
					return nil, false
				}
				if p.eat(',') {
					continue
				}
				if !p.eat(']') {
					return nil, false
				}
				break
			}
		}
	} else {
		ms = make([]Msg, 1)
		if !p.msg(&ms[0]) {
			return nil, false
		}
	}
	p.ws()
	return ms, p.i == len(p.b)
}

// appendMsg is Encode's fast path: the fields in Msg's order, empty ones
// left out. Strings that encoding/json would escape are encoded by it; raw
// fields go in as they are (not compacted), once checked to be valid JSON.
func appendMsg(b []byte, m *Msg) []byte {
	b = append(b, `{"t":`...)
	b = appendStr(b, m.T)
	sf := func(name, v string) {
		if v != "" {
			b = append(b, name...)
			b = appendStr(b, v)
		}
	}
	uf := func(name string, v uint64) {
		if v != 0 {
			b = append(b, name...)
			b = strconv.AppendUint(b, v, 10)
		}
	}
	sf(`,"key":`, m.Key)
	if m.V != 0 {
		b = append(b, `,"v":`...)
		b = strconv.AppendInt(b, int64(m.V), 10)
	}
	sf(`,"client":`, m.Client)
	sf(`,"auth":`, m.Auth)
	sf(`,"ns":`, m.Namespace)
	if len(m.Types) > 0 {
		b = append(b, `,"types":{`...)
		for i, name := range slices.Sorted(maps.Keys(m.Types)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStr(b, name)
			b = append(b, ':')
			b = appendStr(b, m.Types[name])
		}
		b = append(b, '}')
	}
	sf(`,"type":`, m.Type)
	sf(`,"fp":`, m.FP)
	sf(`,"shape":`, m.Shape)
	uf(`,"after":`, m.After)
	sf(`,"epoch":`, m.Epoch)
	uf(`,"acked":`, m.Acked)
	if m.Snap {
		b = append(b, `,"snap":true`...)
	}
	sf(`,"mode":`, m.Mode)
	if m.Presence {
		b = append(b, `,"presence":true`...)
	}
	uf(`,"mid":`, m.Mid)
	sf(`,"name":`, m.Name)
	if len(m.Args) > 0 {
		b = append(b, `,"args":`...)
		b = append(b, m.Args...)
	}
	if m.Time != 0 {
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, m.Time, 10)
	}
	uf(`,"seq":`, m.Seq)
	sf(`,"actor":`, m.Actor)
	sf(`,"hash":`, m.Hash)
	if len(m.State) > 0 {
		b = append(b, `,"state":`...)
		b = append(b, m.State...)
	}
	if len(m.Ops) > 0 {
		b = append(b, `,"ops":`...)
		b = append(b, m.Ops...)
	}
	if len(m.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, m.Data...)
	}
	if len(m.Members) > 0 {
		b = append(b, `,"members":[`...)
		for i, mb := range m.Members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMember(b, &mb)
		}
		b = append(b, ']')
	}
	if len(m.Left) > 0 {
		b = append(b, `,"left":[`...)
		for i, c := range m.Left {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStr(b, c)
		}
		b = append(b, ']')
	}
	if m.Full {
		b = append(b, `,"full":true`...)
	}
	sf(`,"code":`, m.Code)
	sf(`,"msg":`, m.Message)
	if m.Fatal {
		b = append(b, `,"fatal":true`...)
	}
	if m.RetryMs != 0 {
		b = append(b, `,"retry_ms":`...)
		b = strconv.AppendInt(b, m.RetryMs, 10)
	}
	return append(b, '}')
}

// AppendString appends s to b as a JSON string, escaped as encoding/json
// escapes it.
func AppendString(b []byte, s string) []byte { return appendStr(b, s) }

func appendStr(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendMember writes one presence member, as encoding/json would.
func appendMember(b []byte, mb *Member) []byte {
	b = append(b, `{"client":`...)
	b = appendStr(b, mb.Client)
	if mb.Actor != "" {
		b = append(b, `,"actor":`...)
		b = appendStr(b, mb.Actor)
	}
	if len(mb.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, mb.Data...)
	}
	return append(b, '}')
}

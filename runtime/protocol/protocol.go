// Package protocol defines the Better-State wire protocol: the JSON messages
// exchanged over one WebSocket between a client and the server, and the
// stable error codes. docs/PROTOCOL.md documents every message; this package
// is its single source in Go. runtime/client and runtime/server import it.
package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/gowebpki/jcs"

	"github.com/better-state/better-state/runtime/contract"
)

// Version is the protocol version a client announces in hello.
const Version = 1

// Message types, client to server.
const (
	THello = "hello" // first message: client id, version, optional API key
	TSub   = "sub"   // subscribe to a key: type, fingerprint, cursor
	TUnsub = "unsub" // stop receiving a key
	TMut   = "mut"   // a mutation
	TPing  = "ping"  // application-level ping; answered by pong
	TPset  = "pset"  // set this connection's presence on a subscribed key
	TAuth  = "auth"  // a new credential for the connection (a refreshed token)
)

// Message types, server to client.
const (
	TWelcome  = "welcome"  // answer to hello
	TSnap     = "snap"     // full state of a key at a seq
	TEv       = "ev"       // an accepted mutation, with its seq
	TPatch    = "patch"    // an accepted mutation and the change it made (ModePatch)
	TSynced   = "synced"   // end of catch-up for a key
	TRej      = "rej"      // the client's mutation was refused
	TErr      = "err"      // protocol error, with a stable code
	TPong     = "pong"     // answer to ping
	TAuthed   = "authed"   // answer to a good auth
	TPresence = "presence" // who is on a key: the whole set (full) or what changed in one tick
)

// Subscription modes (sub.mode).
const (
	ModeEvents = ""      // the default: ev, for clients that run the reducers
	ModePatch  = "patch" // patch instead of ev: the state's change as RFC 6902 JSON Patch
)

// Msg is every message of the protocol: one flat JSON object whose "t" names
// its type. Fields a type does not use are omitted.
type Msg struct {
	T   string `json:"t"`
	Key string `json:"key,omitempty"`

	// hello / welcome
	V         int    `json:"v,omitempty"`
	Client    string `json:"client,omitempty"` // hello: this client; ev/rej: the originator
	Auth      string `json:"auth,omitempty"`
	Namespace string `json:"ns,omitempty"`
	// welcome: the fingerprint of each type the server serves
	Types map[string]string `json:"types,omitempty"`

	// sub
	Type  string `json:"type,omitempty"`
	FP    string `json:"fp,omitempty"`
	Shape string `json:"shape,omitempty"` // the client's contract.Type.Shape, when its fp is not the server's
	After uint64 `json:"after,omitempty"`
	Epoch string `json:"epoch,omitempty"`
	Acked uint64 `json:"acked,omitempty"` // every mutation of this client up to acked is resolved
	Snap  bool   `json:"snap,omitempty"`  // ask for a snapshot whatever the cursor
	Mode  string `json:"mode,omitempty"`  // "" (ModeEvents) or ModePatch
	// sub: send this key's presence (the whole set after synced, then
	// each tick's changes)
	Presence bool `json:"presence,omitempty"`

	// mut / ev / rej / synced
	Mid   uint64          `json:"mid,omitempty"`
	Name  string          `json:"name,omitempty"`
	Args  json.RawMessage `json:"args,omitempty"`
	Time  int64           `json:"time,omitempty"` // unix milliseconds
	Seq   uint64          `json:"seq,omitempty"`
	Actor string          `json:"actor,omitempty"`
	Hash  string          `json:"hash,omitempty"` // state hash after this event, now and then

	// snap
	State json.RawMessage `json:"state,omitempty"`

	// patch: the RFC 6902 operations from the state at seq-1 to seq
	Ops json.RawMessage `json:"ops,omitempty"`

	// pset: this connection's presence (null: none); presence: the
	// members set or changed, the client ids that left, and whether
	// members is the whole set
	Data    json.RawMessage `json:"data,omitempty"`
	Members []Member        `json:"members,omitempty"`
	Left    []string        `json:"left,omitempty"`
	Full    bool            `json:"full,omitempty"`

	// rej / err
	Code    string `json:"code,omitempty"`
	Message string `json:"msg,omitempty"`
	Fatal   bool   `json:"fatal,omitempty"`
	RetryMs int64  `json:"retry_ms,omitempty"` // err rate_limited: wait this long before sending again
}

// Member is one connection's presence on a key.
type Member struct {
	Client string          `json:"client"`
	Actor  string          `json:"actor,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// Stable error codes, carried by err (and by rej for refusals that are not the
// action's own). docs/PROTOCOL.md lists what each means.
const (
	CodeBadMessage       = "bad_message"               // not JSON, or not a message
	CodeHelloRequired    = "hello_required"            // a message before hello
	CodeBadVersion       = "bad_version"               // protocol version not supported
	CodeUnauthorized     = "unauthorized"              // missing or wrong API key
	CodeForbidden        = "forbidden"                 // the key may not do that (another namespace, role)
	CodeUnknownType      = "unknown_type"              // sub names a type the server does not serve
	CodeSchemaMismatch   = contract.CodeSchemaMismatch // the client's schema is not compatible with the server's
	CodeTypeMismatch     = "type_mismatch"             // the key holds a state of another type
	CodeNotSubscribed    = "not_subscribed"            // mut for a key the connection has not subscribed
	CodeBadKey           = "bad_key"                   // empty or oversized state key
	CodeMidGap           = "mid_gap"                   // mutation ids of a client must increase by one
	CodeTooManyKeys      = "too_many_keys"             // keys-per-connection limit
	CodeRateLimited      = "rate_limited"              // mutation rate limit
	CodeStateTooLarge    = "state_too_large"           // the mutation would grow the state past the limit
	CodeFrameTooLarge    = "frame_too_large"           // frame size limit
	CodeTooManyConns     = "too_many_connections"
	CodeSlowConsumer     = "slow_consumer" // send queue overflow; the connection is closed
	CodeShuttingDown     = "shutting_down"
	CodeInternal         = "internal"
	CodeDuplicate        = "duplicate" // REST: this (client, mid) was processed before
	CodeNotFound         = "not_found"
	CodeCompacted        = "compacted" // the history asked for was compacted away
	CodeBadRequest       = "bad_request"
	CodeUnknownAction    = contract.CodeUnknownAction
	CodeBadArgs          = contract.CodeBadArgs
	CodeActionPanic      = contract.CodeActionPanic
	CodeMethodNotAllowed = "method_not_allowed"
	CodeBadState         = contract.CodeBadState // the action left a state that does not encode (NaN, ±Inf)
	CodeClientTaken      = "client_taken"        // the client id belongs to another actor
	CodeArgsTooLarge     = "args_too_large"      // rej: an action's arguments over its //bs:maxargs
	CodeTokenExpired     = "token_expired"       // an end-user token expired (fatal on a connection, unless refreshed with auth first)
	CodePresenceTooLarge = "presence_too_large"  // a presence over Limits.MaxPresenceBytes
	CodeBadPresence      = "bad_presence"        // a presence that is not the key's presence type, or a type without one
	CodeReplaced         = "replaced"            // another connection took over this client id
	CodeArgsDiffer       = "args_differ"         // REST: a retry of (client, mid) with other args
	CodeReset            = "reset"               // the key's log was deleted; resubscribe
	CodeStorage          = "storage_failed"      // the database failed; retry later
	CodeBusy             = "busy"                // every room is in use; retry later
	CodeQuota            = "quota_exceeded"      // a namespace quota (bytes, keys, events/s)
	CodeUnsupportedMedia = "unsupported_media_type"
)

// Decode parses one frame: a single message object, or an array of messages
// (the server coalesces messages waiting for a slow reader into one frame).
func Decode(frame []byte) ([]Msg, error) {
	b := bytes.TrimLeft(frame, " \t\r\n")
	if len(b) == 0 {
		return nil, errors.New("empty frame")
	}
	if ms, ok := decodeFast(b); ok {
		for i := range ms {
			if ms[i].T == "" {
				return nil, errors.New("message without type")
			}
		}
		return ms, nil
	}
	if b[0] == '[' {
		var ms []Msg
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, err
		}
		for i := range ms {
			if ms[i].T == "" {
				return nil, errors.New("message without type")
			}
		}
		return ms, nil
	}
	var m Msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.T == "" {
		return nil, errors.New("message without type")
	}
	return []Msg{m}, nil
}

// Encode returns the JSON encoding of m.
func Encode(m *Msg) []byte {
	if rawValid(m) {
		return appendMsg(make([]byte, 0, 96+len(m.Args)+len(m.State)+len(m.Ops)+len(m.Data)+64*len(m.Members)), m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Msg holds only strings, numbers and RawMessages that were
		// validated when they were made: failing here is a bug.
		panic("protocol: encode: " + err.Error())
	}
	return b
}

// Batch joins already-encoded messages into one array frame.
func Batch(frames [][]byte) []byte {
	if len(frames) == 1 {
		return frames[0]
	}
	n := 2 + len(frames)
	for _, f := range frames {
		n += len(f)
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, f := range frames {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, f...)
	}
	return append(out, ']')
}

// StateHash is the hash an ev carries now and then: the first 16 hex digits
// of the SHA-256 of the state's JSON in the JSON Canonicalization Scheme
// (RFC 8785: keys sorted by UTF-16 code units, numbers as ECMAScript prints
// them, minimal string escapes), so that a client in any language that
// holds the same JSON value computes the same hash. Server and client both
// use it; docs/PROTOCOL.md has a test vector. JSON that JCS cannot take
// (invalid, or a number beyond float64) is hashed as it is.
func StateHash(encoded []byte) string {
	if c, err := jcs.Transform(encoded); err == nil {
		encoded = c
	}
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:8])
}

// rawValid reports whether every raw JSON field of m is empty or valid.
func rawValid(m *Msg) bool {
	for _, r := range [...]json.RawMessage{m.Args, m.State, m.Ops, m.Data} {
		if len(r) > 0 && !json.Valid(r) {
			return false
		}
	}
	for _, mb := range m.Members {
		if len(mb.Data) > 0 && !json.Valid(mb.Data) {
			return false
		}
	}
	return true
}

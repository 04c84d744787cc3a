// Package schema is what a Better-State schema package imports: the
// deterministic mutation context handed to every action, and Reject for
// refusals that clients see with a stable code.
//
// It is deliberately tiny and stable. Generated code and the runtime build on
// it; application code uses Ctx inside actions and NewContext in its tests.
package schema

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Ctx is everything an action may learn from outside its state and arguments.
// Every replica that applies the same mutation gets the same answers, which is
// what keeps optimistic clients and the server in agreement.
type Ctx interface {
	// Time is the mutation's time: assigned by the server when it appends the
	// mutation to the log, the client's own clock while it is optimistic.
	Time() time.Time
	// Actor is the authenticated identity that made the mutation.
	Actor() string
	// Client is the persistent id of the client that made the mutation.
	Client() string
	// MutationID is the client's per-key sequence number of this mutation.
	MutationID() uint64
	// NewID returns a new identifier, derived from the mutation's identity and
	// the number of ids made so far in this mutation: the same on every replica.
	NewID() string
	// Rand is a random source seeded from the mutation's identity: the same
	// sequence on every replica.
	Rand() *rand.Rand
}

// Meta identifies one mutation. It is what NewContext derives a Ctx from.
//
// A mutation's identity, from which NewID and Rand are derived, is
// (Key, Client, Mid) when Client is set: the server applies each such
// triple at most once, and a client id belongs to one actor, so it is
// unique in the key's log, and a client knows it before the server has
// seen the mutation. A mutation without a client (a REST write without
// "client") takes its identity from its place in the log, (Key, Epoch,
// Seq), which is just as unique and the same on every replica.
type Meta struct {
	Key    string    // the state key the mutation applies to
	Client string    // the client id ("" for a write without one)
	Mid    uint64    // the client's mutation id for this key
	Actor  string    // the authenticated identity
	Time   time.Time // the mutation's time
	Epoch  string    // the epoch of the key's log (identity of a write without a client)
	Seq    uint64    // the mutation's seq in the log (identity of a write without a client)
}

// NewContext returns the Ctx for one mutation. The runtime calls it; tests of
// a schema package may call it to run actions directly.
func NewContext(m Meta) Ctx {
	return &ctx{meta: m}
}

type ctx struct {
	meta Meta
	ids  uint64
	seed [32]byte
	hash bool
	rnd  *rand.Rand
}

func (c *ctx) Time() time.Time    { return c.meta.Time }
func (c *ctx) Actor() string      { return c.meta.Actor }
func (c *ctx) Client() string     { return c.meta.Client }
func (c *ctx) MutationID() uint64 { return c.meta.Mid }
func (c *ctx) identity() [32]byte {
	if !c.hash {
		h := sha256.New()
		h.Write([]byte(c.meta.Key))
		h.Write([]byte{0})
		if c.meta.Client != "" {
			h.Write([]byte(c.meta.Client))
			h.Write([]byte{0})
			h.Write([]byte(strconv.FormatUint(c.meta.Mid, 10)))
		} else {
			// A leading NUL cannot start a client id's bytes here: the two
			// kinds of identity never collide.
			h.Write([]byte{0})
			h.Write([]byte(c.meta.Epoch))
			h.Write([]byte{0})
			h.Write([]byte(strconv.FormatUint(c.meta.Seq, 10)))
		}
		copy(c.seed[:], h.Sum(nil))
		c.hash = true
	}
	return c.seed
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func (c *ctx) NewID() string {
	seed := c.identity()
	c.ids++
	var buf [40]byte
	copy(buf[:32], seed[:])
	binary.BigEndian.PutUint64(buf[32:], c.ids)
	sum := sha256.Sum256(buf[:])
	return idEncoding.EncodeToString(sum[:10])
}

func (c *ctx) Rand() *rand.Rand {
	if c.rnd == nil {
		seed := c.identity()
		c.rnd = rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed[0:8]), binary.BigEndian.Uint64(seed[8:16])))
	}
	return c.rnd
}

// Rejection is an action's refusal. Clients receive its Code and Message.
type Rejection struct {
	Code    string
	Message string
}

func (r *Rejection) Error() string { return fmt.Sprintf("rejected (%s): %s", r.Code, r.Message) }

// Reject returns the error an action returns to refuse a mutation. Code is a
// short stable identifier (for example "empty_title"); message is for people.
func Reject(code, message string) error {
	return &Rejection{Code: code, Message: message}
}

// AsRejection reports whether err is (or wraps) a Rejection, and returns it.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	if errors.As(err, &r) {
		return r, true
	}
	return nil, false
}

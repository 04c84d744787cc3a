// Package state has state types that cannot be stored or cloned, and
// marks that are wrong.
package state

import (
	"bytes"
	"net/url"
	"time"
)

// Chans holds a channel.
//
//bs:state
type Chans struct {
	C chan int
}

// Funcs holds a function in a nested struct.
//
//bs:state
type Funcs struct {
	Items []Item
}

// Item is nested in Funcs.
type Item struct {
	OnClick func()
}

// Iface holds an interface.
//
//bs:state
type Iface struct {
	V any
}

// IntKeys has a map whose key is not string-kinded.
//
//bs:state
type IntKeys struct {
	M map[int]string
}

// NotStruct is not a struct.
//
//bs:state
type NotStruct []string

// Generic is generic.
//
//bs:state
type Generic[T any] struct {
	V T
}

// BadOption has an unknown option.
//
//bs:state nome=x
type BadOption struct{}

// First and Second claim the same wire name.
//
//bs:state name=same.Name
type First struct{}

// Second claims First's wire name.
//
//bs:state name=same.Name
type Second struct{}

// Shallow holds structs of other packages that hold references: Clone
// copies them by value, which is worth a warning (but time.Time is fine).
//
//bs:state
type Shallow struct {
	Buf  bytes.Buffer
	URLs []url.URL
	At   time.Time
	Ats  []*time.Time
}

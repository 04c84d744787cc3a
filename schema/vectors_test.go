package schema

import (
	"testing"
	"time"
)

// The identifier and randomness vectors of docs/PROTOCOL.md ("Identifiers
// and randomness"): a port of the runtime to another language must
// reproduce them.
func TestIDAndRandVectors(t *testing.T) {
	withClient := NewContext(Meta{Key: "list-1", Client: "c7f3kq2m9d1x", Mid: 8, Time: time.UnixMilli(1)})
	noClient := NewContext(Meta{Key: "list-1", Epoch: "k2j4h5g6", Seq: 13})
	for _, tc := range []struct {
		name string
		got  []any
		want []any
	}{
		{"NewID with a client", []any{withClient.NewID(), withClient.NewID()}, []any{"nmn4qxt1z01k2m72", "xyrzxnw0pw5zx6cd"}},
		{"NewID without a client", []any{noClient.NewID()}, []any{"w3wqbddkt8b0sbdz"}},
		{"Rand with a client", []any{withClient.Rand().Uint64(), withClient.Rand().Uint64()}, []any{uint64(14669809258940600689), uint64(7455210794774785647)}},
	} {
		for i := range tc.want {
			if tc.got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
				break
			}
		}
	}
}

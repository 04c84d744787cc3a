package counter

import (
	"testing"

	"github.com/better-state/better-state/internal/gen/gentest"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/schema"
)

func TestCounter(t *testing.T) {
	gentest.AssertEnvelopeMatchesDirect(t, CounterType, func() *Counter { return &Counter{N: 1} }, []gentest.Case[Counter]{
		gentest.Act("Add", CounterAddArgs{By: 2}, func(c *Counter, ctx schema.Ctx) error { return c.Add(ctx, 2) }),
	})
	r := contract.NewRegistry()
	Register(r)
	if _, ok := r.Lookup("counter.Counter"); !ok || Describe() == "" {
		t.Fatal("Register did not add counter.Counter")
	}
}

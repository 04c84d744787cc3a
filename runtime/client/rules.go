package client

import (
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/schema"
)

// writeRule runs t's write rule on the client's view; a panic is a
// refusal, as the server makes it.
func writeRule(t *contract.Type, state any, ctx schema.Ctx, action string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = contract.Errorf(protocol.CodeActionPanic, "the rule panicked: %v", p)
		}
	}()
	return t.WriteRule(state, ctx, action)
}

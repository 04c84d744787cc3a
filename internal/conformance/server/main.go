// Command server is the server the conformance suite starts when no URL is
// given: the server command with the todos and polls examples registered,
// so that a key can hold a type other than the suite's (type_mismatch).
package main

import (
	"os"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/server/serve"
)

func main() { os.Exit(serve.Main(os.Args[1:], todos.Register, polls.Register)) }

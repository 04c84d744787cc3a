// Package helper is a package of the same module that actions call into.
package helper

import (
	"math/rand"
	"strings"
)

// Pick is nondeterministic: the action calling it is refused here.
func Pick(n int) int { return rand.Intn(n) }

// Clean is deterministic.
func Clean(s string) string { return strings.TrimSpace(s) }

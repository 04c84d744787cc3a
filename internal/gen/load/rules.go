package load

// The read and write rules of a state: methods with fixed signatures that
// the server runs before serving a reader or applying a mutation, checked
// for determinism like actions.

import (
	"go/types"

	"github.com/better-state/better-state/internal/gen/model"
)

// Rule method names and signatures.
const (
	readRule  = "ReadRule"  // func (S) ReadRule(ctx schema.Ctx) error
	writeRule = "WriteRule" // func (S) WriteRule(ctx schema.Ctx, action string) error
)

// describeRule reports whether m is a rule of st (its name is one), and
// returns it if its signature is right.
func (d *describer) describeRule(st *model.State, m *types.Func) (*ActionFunc, bool) {
	if m.Name() != readRule && m.Name() != writeRule {
		return nil, false
	}
	sig := m.Type().(*types.Signature)
	want := "func (" + st.Name + ") ReadRule(ctx schema.Ctx) error"
	params := 1
	if m.Name() == writeRule {
		want = "func (" + st.Name + ") WriteRule(ctx schema.Ctx, action string) error"
		params = 2
	}
	ok := sig.Params().Len() == params && isSchemaCtx(sig.Params().At(0).Type()) &&
		sig.Results().Len() == 1 && types.Identical(sig.Results().At(0).Type(), errorType)
	if ok && params == 2 {
		b, isBasic := sig.Params().At(1).Type().(*types.Basic)
		ok = isBasic && b.Kind() == types.String
	}
	if !ok {
		d.errorf(m.Pos(), "%s.%s is a rule's name, but not its signature: %s", st.Name, m.Name(), want)
		return nil, true
	}
	if _, ptr := sig.Recv().Type().(*types.Pointer); ptr {
		d.errorf(m.Pos(), "rule %s.%s has a pointer receiver; a rule reads the state and must not change it: %s", st.Name, m.Name(), want)
		return nil, true
	}
	if m.Name() == readRule {
		st.ReadRule = true
	} else {
		st.WriteRule = true
	}
	return &ActionFunc{State: st, Action: &model.Action{Name: m.Name(), Pos: d.pos(m.Pos())}, Func: m}, true
}

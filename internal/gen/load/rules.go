package load

// The read and write rules of a state: methods with fixed signatures that
// the server runs before serving a reader or applying a mutation, checked
// for determinism like actions.

import (
	"fmt"
	"go/ast"
	"go/types"
	"strconv"
	"strings"

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

// actionDirectives reads the //bs: lines of an action's doc comment:
// //bs:maxargs SIZE. It reports false after an error.
func (d *describer) actionDirectives(st *model.State, m *types.Func, a *model.Action) bool {
	doc := d.docs[m]
	if doc == nil {
		return true
	}
	for _, c := range doc.List {
		rest, ok := strings.CutPrefix(c.Text, "//bs:")
		if !ok {
			continue
		}
		name, arg, _ := strings.Cut(rest, " ")
		if name == "pure" {
			continue // a file's directive, wherever it is written
		}
		if name != "maxargs" {
			d.errorf(c.Pos(), "%q is not a directive of an action; an action takes //bs:maxargs SIZE, as in //bs:maxargs 4KiB", c.Text)
			return false
		}
		n, err := parseBytes(strings.TrimSpace(arg))
		if err != nil {
			d.errorf(c.Pos(), "%s.%s: //bs:maxargs %s: %v", st.Name, a.Name, arg, err)
			return false
		}
		a.MaxArgsBytes = n
	}
	return true
}

// parseBytes reads a size: a number of bytes, or of KiB or MiB ("512",
// "4KiB", "1MiB"), from 1 byte to 1 GiB.
func parseBytes(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "KiB"):
		mult, s = 1<<10, strings.TrimSuffix(s, "KiB")
	case strings.HasSuffix(s, "MiB"):
		mult, s = 1<<20, strings.TrimSuffix(s, "MiB")
	case strings.HasSuffix(s, "B"):
		s = strings.TrimSuffix(s, "B")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n*mult > 1<<30 {
		return 0, fmt.Errorf("a size is a number of bytes, KiB or MiB from 1 B to 1 GiB, as in 4KiB")
	}
	return n * mult, nil
}

// promotedRules refuses rules that st only gets from an embedded field:
// bsgen describes the methods declared on the state, and a rule it does
// not see would silently not be enforced.
func (d *describer) promotedRules(st *model.State, named *types.Named, spec *ast.TypeSpec) {
	ms := types.NewMethodSet(types.NewPointer(named))
	for i := 0; i < ms.Len(); i++ {
		sel := ms.At(i)
		if name := sel.Obj().Name(); (name == readRule || name == writeRule) && len(sel.Index()) > 1 {
			d.errorf(spec.Name.Pos(), "%s gets %s from an embedded field; declare it on %s itself, calling the embedded one, so that the server runs it", st.Name, name, st.Name)
		}
	}
}

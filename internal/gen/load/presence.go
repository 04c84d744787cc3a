package load

// The //bs:presence types: what each connection on a key of a state says
// about itself (who, where it looks), kept in server memory only.

import (
	"go/ast"
	"go/types"
	"strings"

	"github.com/better-state/better-state/internal/gen/model"
)

// presenceDirective returns the //bs:presence line of doc, if any.
func presenceDirective(doc *ast.CommentGroup) *ast.Comment {
	if doc == nil {
		return nil
	}
	for _, c := range doc.List {
		if c.Text == "//bs:presence" || strings.HasPrefix(c.Text, "//bs:presence ") {
			return c
		}
	}
	return nil
}

// describePresence attaches the presence type spec, marked by dir, to the
// state it names.
func (d *describer) describePresence(mp *model.Package, spec *ast.TypeSpec, dir *ast.Comment) {
	name := spec.Name.Name
	args := strings.Fields(strings.TrimPrefix(dir.Text, "//bs:presence"))
	if len(args) != 1 {
		d.errorf(dir.Pos(), "//bs:presence needs the name of one state type of this package, as in //bs:presence List")
		return
	}
	var st *model.State
	for _, s := range mp.States {
		if s.Name == args[0] {
			st = s
		}
	}
	if st == nil {
		d.errorf(dir.Pos(), "//bs:presence %s: %s is not a //bs:state type of this package", args[0], args[0])
		return
	}
	if st.Presence != nil {
		d.errorf(spec.Name.Pos(), "state %s already has the presence type %s; a state has one", st.Name, st.Presence.Name)
		return
	}
	tn, _ := d.pkg.TypesInfo.Defs[spec.Name].(*types.TypeName)
	if tn == nil {
		return
	}
	named, ok := types.Unalias(tn.Type()).(*types.Named)
	switch {
	case !ok || tn.IsAlias():
		d.errorf(spec.Name.Pos(), "bs:presence %s must be a defined struct type, not an alias", name)
		return
	case named.TypeParams().Len() > 0:
		d.errorf(spec.Name.Pos(), "bs:presence %s must not be generic", name)
		return
	}
	if _, ok := named.Underlying().(*types.Struct); !ok {
		d.errorf(spec.Name.Pos(), "bs:presence %s must be a struct type, not %s", name, named.Underlying())
		return
	}
	if !d.checkType(named, spec.Name.Pos(), "presence type "+name, true) {
		return
	}
	st.Presence = &model.Presence{Name: name, WireName: d.pkg.Name + "." + name, Type: d.convert(named), Pos: d.pos(spec.Name.Pos())}
}

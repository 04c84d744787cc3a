package check

// Fused floating-point arithmetic. The Go spec lets a compiler fuse x*y + z
// into one multiply-add instruction that rounds once, "possibly across
// statements"; the Go compiler does so on arm64, ppc64le, s390x and riscv64,
// not on amd64 or 386. The same action then computes another float on a
// phone than on the server. An explicit conversion, float64(x*y), rounds
// the product and prevents the fusion. Since the fusion can cross
// statements (t := x*y; t + z), every product of floats in an action must
// be rounded explicitly, not only those written next to an addition.

import (
	"go/ast"
	"go/token"
	"go/types"
)

const adviceFused = "on arm64 (and ppc64le, s390x, riscv64) the compiler may fuse it with an addition or subtraction into one instruction that rounds once, so those replicas compute another result than amd64; round the product explicitly"

// isFloat reports whether t is a floating-point or complex type, or a
// type parameter that may be one.
func isFloat(t types.Type) bool {
	if t == nil {
		return false
	}
	if tp, ok := types.Unalias(t).(*types.TypeParam); ok {
		return anyTerm(tp.Constraint(), func(t types.Type) bool { return isFloat(t) })
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&(types.IsFloat|types.IsComplex) != 0
}

// isComplex reports whether t is (or, for a type parameter, may be) complex.
func isComplex(t types.Type) bool {
	if tp, ok := types.Unalias(t).(*types.TypeParam); ok {
		return anyTerm(tp.Constraint(), isComplex)
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&types.IsComplex != 0
}

// anyTerm reports whether a term of the constraint's type set satisfies f
// (an unrestricted constraint, such as any, has no terms).
func anyTerm(constraint types.Type, f func(types.Type) bool) bool {
	iface, ok := constraint.Underlying().(*types.Interface)
	if !ok {
		return f(constraint)
	}
	for i := 0; i < iface.NumEmbeddeds(); i++ {
		switch e := iface.EmbeddedType(i).(type) {
		case *types.Union:
			for j := 0; j < e.Len(); j++ {
				if f(e.Term(j).Type()) {
					return true
				}
			}
		default:
			if anyTerm(e, f) {
				return true
			}
		}
	}
	return false
}

// parentsOf maps each node under root to its parent.
func parentsOf(root ast.Node) map[ast.Node]ast.Node {
	parents := map[ast.Node]ast.Node{}
	var stack []ast.Node
	ast.Inspect(root, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return false
		}
		if len(stack) > 0 {
			parents[n] = stack[len(stack)-1]
		}
		stack = append(stack, n)
		return true
	})
	return parents
}

// cannotFuse reports whether the value of e goes where no addition can
// take it unrounded: into a conversion (which rounds), a comparison, or
// another multiplication or a division (which a multiply-add does not
// combine). A negation passes the question to its own parent.
func cannotFuse(info *types.Info, e ast.Expr, parents map[ast.Node]ast.Node) bool {
	for {
		switch p := parents[e].(type) {
		case *ast.ParenExpr:
			e = p
		case *ast.UnaryExpr:
			if p.Op != token.SUB && p.Op != token.ADD {
				return false
			}
			e = p
		case *ast.CallExpr:
			tv, ok := info.Types[p.Fun]
			return ok && tv.IsType()
		case *ast.BinaryExpr:
			switch p.Op {
			case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ, token.MUL, token.QUO:
				return true
			}
			return false
		default:
			return false
		}
	}
}

// product reports a product of floats that an addition could take
// unrounded, and every product of complex numbers (complex multiplication
// is itself a sum of products, which arm64 fuses whatever the conversion).
func (w *walk) product(fn *types.Func, info *types.Info, b *ast.BinaryExpr, parents map[ast.Node]ast.Node) {
	if b.Op != token.MUL {
		return
	}
	tv, ok := info.Types[b]
	if !ok || tv.Value != nil || !isFloat(tv.Type) {
		return // not a float, or a constant, computed exactly at compile time
	}
	if isComplex(tv.Type) {
		w.errorf(b.OpPos, fn, "multiplies complex numbers: a complex product is a sum of float products, which arm64 may fuse into multiply-adds where no conversion can round them; keep the real and imaginary parts as float64 and round each product")
		return
	}
	if cannotFuse(info, b, parents) {
		return
	}
	t := types.TypeString(tv.Type, w.qualifier)
	w.errorf(b.OpPos, fn, "multiplies floats without rounding the product: %s: write %s(%s)", adviceFused, t, exprString(b))
}

// mulAssign reports x *= y on floats, the same product unrounded.
func (w *walk) mulAssign(fn *types.Func, info *types.Info, a *ast.AssignStmt) {
	if len(a.Lhs) != 1 || !isFloat(info.TypeOf(a.Lhs[0])) {
		return
	}
	t := types.TypeString(info.TypeOf(a.Lhs[0]), w.qualifier)
	x, y := exprString(a.Lhs[0]), exprString(a.Rhs[0])
	w.errorf(a.TokPos, fn, "multiplies floats with *= without rounding the product: %s: write %s = %s(%s * %s)", adviceFused, x, t, x, y)
}

// exprString spells short expressions for the advice, and elides long ones.
func exprString(e ast.Expr) string {
	s := types.ExprString(e)
	if len(s) > 40 {
		return "…"
	}
	return s
}

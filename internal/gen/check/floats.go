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

// isFloat reports whether t is a floating-point or complex type.
func isFloat(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&(types.IsFloat|types.IsComplex) != 0
}

// markConversion records the product that an explicit conversion to a
// floating-point type wraps: float64(x*y) is rounded, hence not fused.
func (w *walk) markConversion(info *types.Info, call *ast.CallExpr, converted map[*ast.BinaryExpr]bool) {
	if len(call.Args) != 1 {
		return
	}
	tv, ok := info.Types[call.Fun]
	if !ok || !tv.IsType() || !isFloat(tv.Type) {
		return
	}
	if b, ok := ast.Unparen(call.Args[0]).(*ast.BinaryExpr); ok && b.Op == token.MUL {
		converted[b] = true
	}
}

// product reports a product of floats that is not rounded explicitly.
func (w *walk) product(fn *types.Func, info *types.Info, b *ast.BinaryExpr, converted map[*ast.BinaryExpr]bool) {
	if b.Op != token.MUL || converted[b] {
		return
	}
	tv, ok := info.Types[b]
	if !ok || tv.Value != nil || !isFloat(tv.Type) {
		return // not a float, or a constant, computed exactly at compile time
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

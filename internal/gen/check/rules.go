package check

// What an action may not call or use, and why: the lists the walk in
// check.go consults.

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/types/typeutil"

	"github.com/better-state/better-state/internal/gen/model"
)

// qualified names a package-level object with its package path, or a
// method with its receiver: time.Now, math/rand/v2.IntN, (*os.File).Write.
func qualified(obj types.Object) string {
	if f, ok := obj.(*types.Func); ok {
		if recv := f.Signature().Recv(); recv != nil {
			return "(" + types.TypeString(recv.Type(), nil) + ")." + f.Name()
		}
	}
	if obj.Pkg() == nil {
		return obj.Name()
	}
	return obj.Pkg().Path() + "." + obj.Name()
}

const (
	adviceClock  = "the clock differs between replicas; use ctx.Time(), the mutation's time, the same on every replica"
	adviceTimers = "timers fire at different moments on each replica, and an action runs to completion at once; use ctx.Time() and keep deadlines in the state"
	zoneFix      = "keep times in UTC (ctx.Time() is UTC) or in a zone named in the state, loaded outside the action"
	adviceZone   = "the local time zone is the machine's, different on each replica; " + zoneFix
	adviceRand   = "its random source differs between replicas; use ctx.Rand(), seeded the same on every replica"
	adviceSync   = "an action runs alone, on one goroutine, on data of its own: a lock or an atomic means data shared outside the state, which replicas do not share"
	adviceArch   = "it describes the machine or the Go runtime, which differ between replicas (amd64, arm64, 386, wasm)"
)

// forbidden reports whether calling f breaks determinism, and what to use
// instead.
func forbidden(f *types.Func) (string, bool) {
	if f.Pkg() == nil {
		return "", false
	}
	path := f.Pkg().Path()
	method := f.Signature().Recv() != nil
	switch path {
	case "time":
		if method {
			if f.Name() == "Local" {
				return adviceZone, true
			}
			return "", false
		}
		switch f.Name() {
		case "Now", "Since", "Until":
			return adviceClock, true
		case "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker":
			return adviceTimers, true
		case "LoadLocation":
			return "it reads the machine's time zone database, which differs between replicas; " + zoneFix, true
		}
		return "", false
	case "math/rand", "math/rand/v2":
		if !method {
			return adviceRand, true
		}
		return "", false
	case "math":
		if !exactMath[f.Name()] {
			return adviceMath, true
		}
		return "", false
	case "math/cmplx":
		return adviceMath, true
	}
	return forbiddenPackage(path)
}

// exactMath lists the functions of package math whose result is exact or
// correctly rounded by definition (IEEE 754), hence the same on every
// architecture. The others (Sin, Exp, Log, Pow, Hypot, ...) are pure Go on
// some architectures, which arm64 compiles with fused multiply-adds, and
// assembly on others: their last bits differ between amd64, arm64 and 386
// (internal/crossarch measured Exp, Pow, Sinh, Tanh and Erf differing on 386,
// and nearly all of them on arm64).
var exactMath = map[string]bool{
	"Abs": true, "Ceil": true, "Floor": true, "Trunc": true, "Round": true, "RoundToEven": true,
	"Copysign": true, "Signbit": true, "Sqrt": true, "Mod": true, "Remainder": true, "FMA": true,
	"Max": true, "Min": true, "Dim": true, "Inf": true, "NaN": true, "IsNaN": true, "IsInf": true,
	"Float64bits": true, "Float64frombits": true, "Float32bits": true, "Float32frombits": true,
	"Nextafter": true, "Nextafter32": true, "Frexp": true, "Ldexp": true, "Modf": true, "Logb": true, "Ilogb": true,
}

const adviceMath = "its last bits differ between architectures (assembly on some, pure Go fused with multiply-adds on arm64), so replicas disagree; compute it outside the action and pass the result as an argument, or use the exact functions (Sqrt, Abs, Floor, Mod, FMA, ...)"

// localTime reports time.Unix, UnixMilli and UnixMicro, which return a
// time in the machine's zone (its Hour, Day and Format differ between
// replicas), unless the call's result is put in a zone at once:
// time.Unix(s, 0).UTC() or .In(loc).
func (w *walk) localTime(fn *types.Func, info *types.Info, call *ast.CallExpr, zoned map[*ast.CallExpr]bool) {
	f := typeutil.StaticCallee(info, call)
	if f == nil || f.Pkg() == nil || f.Pkg().Path() != "time" || f.Signature().Recv() != nil || zoned[call] {
		return
	}
	switch f.Name() {
	case "Unix", "UnixMilli", "UnixMicro":
		w.errorf(call.Pos(), fn, "calls time.%s, whose result is in the machine's time zone: %s: write time.%s(...).UTC()", f.Name(), adviceZone, f.Name())
	}
}

// forbiddenVar reports whether using the package-level variable v breaks
// determinism.
func forbiddenVar(v *types.Var) (string, bool) {
	if v.Pkg().Path() == "time" && v.Name() == "Local" {
		return adviceZone, true
	}
	return forbiddenPackage(v.Pkg().Path())
}

// forbiddenConst reports whether a constant differs between the machines
// replicas run on.
func forbiddenConst(c *types.Const) (string, bool) {
	if c.Pkg() == nil {
		return "", false
	}
	switch c.Pkg().Path() {
	case "runtime", "unsafe":
		return adviceArch, true
	case "math":
		switch c.Name() {
		case "MaxInt", "MinInt", "MaxUint":
			return "its value is that of int (32 or 64 bits), which differs between replicas (386 and 32-bit arm have 32-bit int); use MaxInt64 and a sized type", true
		}
	}
	return "", false
}

// forbiddenPackage reports whether every function and variable of the
// package at path breaks determinism, and what to use instead.
func forbiddenPackage(path string) (string, bool) {
	switch {
	case path == "crypto/rand":
		return "it is random on every replica; use ctx.Rand() for random numbers or ctx.NewID() for identifiers", true
	case path == "hash/maphash":
		return "its seeds are random per process, so its hashes differ between replicas; use hash/fnv or crypto/sha256", true
	case path == "os" || strings.HasPrefix(path, "os/") || path == "syscall" || path == "plugin":
		return "it depends on the machine the action runs on; an action may read only its state, ctx and arguments (read the environment outside and pass values as arguments; ctx.Actor() and ctx.Client() say who acts)", true
	case path == "net" || path == "net/http" || strings.HasPrefix(path, "net/http/") ||
		path == "net/rpc" || strings.HasPrefix(path, "net/rpc/") || path == "net/smtp":
		return "it does network I/O, which differs between replicas; do I/O outside actions and pass its results as arguments", true
	case path == "runtime" || strings.HasPrefix(path, "runtime/"):
		return adviceArch, true
	case path == "unsafe":
		return "it depends on the memory layout, which differs between architectures (the size of int, pointers, padding); use the state's own fields", true
	case path == "sync" || path == "sync/atomic":
		return adviceSync, true
	}
	return "", false
}

// mapOrdered reports whether f returns or walks a map in its iteration
// order (reflect's map iteration), which differs between runs.
func mapOrdered(f *types.Func) bool {
	if f.Pkg() == nil || f.Pkg().Path() != "reflect" || f.Signature().Recv() == nil {
		return false
	}
	switch f.Name() {
	case "MapKeys", "MapRange":
		return true
	}
	return false
}

// otherModule reports whether pkg is outside the standard library and
// outside the schema's own module (whose code the walk follows): its code
// is not followed, so a call into it is refused unless the schema package
// declares the package pure (//bs:pure).
func (w *walk) otherModule(pkg *types.Package) bool {
	if pkg == nil || w.c.prog.SameModule(w.root, pkg) {
		return false
	}
	path := pkg.Path()
	if path == model.SchemaPath {
		return false
	}
	first, _, _ := strings.Cut(path, "/")
	return strings.Contains(first, ".")
}

// pure reports whether the schema package declared pkg (or a package it
// is under) pure with //bs:pure.
func (w *walk) pure(pkg *types.Package) bool {
	for p := range w.root.Model.Pure {
		if pkg.Path() == p || strings.HasPrefix(pkg.Path(), p+"/") {
			return true
		}
	}
	return false
}

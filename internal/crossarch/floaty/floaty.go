// Package floaty is a float-heavy schema for the cross-architecture
// replay (internal/crossarch): a body moving under a force, a running
// mean and a polynomial. Every product of floats is rounded explicitly,
// as bsgen requires, so that arm64 computes what amd64 and 386 do.
package floaty

//go:generate go tool bsgen

import (
	"math"

	"github.com/better-state/better-state/schema"
)

// Body is the state.
//
//bs:state
type Body struct {
	Pos    float64 `json:"pos"`
	Vel    float64 `json:"vel"`
	Mean   float64 `json:"mean"`
	Count  int64   `json:"count"`
	Poly   float64 `json:"poly"`
	Signal float64 `json:"signal"`
}

// Step advances the body by dt under acceleration a (semi-implicit Euler).
func (b *Body) Step(ctx schema.Ctx, a, dt float64) error {
	b.Vel = b.Vel + float64(a*dt)
	b.Pos = b.Pos + float64(b.Vel*dt)
	return nil
}

// Sample adds x to the running mean.
func (b *Body) Sample(ctx schema.Ctx, x float64) error {
	b.Count++
	b.Mean += (x - b.Mean) / float64(b.Count)
	return nil
}

// Horner evaluates c0 + c1*x + c2*x² + c3*x³ at x into Poly.
func (b *Body) Horner(ctx schema.Ctx, c []float64, x float64) error {
	p := 0.0
	for i := len(c) - 1; i >= 0; i-- {
		p = float64(p*x) + c[i]
	}
	b.Poly = p
	return nil
}

// Wave mixes the math functions whose results are exact or correctly
// rounded everywhere (bsgen refuses the others, such as Sin and Exp).
func (b *Body) Wave(ctx schema.Ctx, t float64) error {
	b.Signal = math.Sqrt(math.Abs(t)) + math.Mod(t, 7.25) + math.Floor(t/3) + math.FMA(t, 0.5, b.Signal)
	return nil
}

// Package fused is the control of the cross-architecture replay: the
// floaty schema's arithmetic written without the explicit rounding that
// bsgen requires (it is not a schema package, so bsgen never sees it). On
// arm64 the compiler fuses its products with the additions, and its
// results differ from amd64's: the replay must notice.
package fused

// Step is floaty's Body.Step without rounding.
func Step(pos, vel, a, dt float64) (float64, float64) {
	vel = vel + a*dt
	pos = pos + vel*dt
	return pos, vel
}

// Horner is floaty's Body.Horner without rounding.
func Horner(c []float64, x float64) float64 {
	p := 0.0
	for i := len(c) - 1; i >= 0; i-- {
		p = p*x + c[i]
	}
	return p
}

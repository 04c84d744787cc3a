// Package crossarch holds the cross-architecture replay test: random logs
// of the examples and of the float-heavy schema floaty are replayed on
// amd64, on arm64 (the same test binary built with GOARCH=arm64, run under
// qemu-user) and on 386 (under qemu-user too, where the kernel cannot run
// 386 binaries itself); the state hashes must be equal. Package fused is
// the control: the same float arithmetic without the rounding bsgen
// requires, which arm64 computes differently.
package crossarch

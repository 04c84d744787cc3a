// Package layout holds the tests that keep the repository's structure true
// to docs/ARCHITECTURE.md: which package may import which, what each binary
// links, package names, and file sizes.
package layout

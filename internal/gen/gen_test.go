package gen_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/gen"
)

var update = flag.Bool("update", false, "rewrite the wanted files of testdata/*/want from the generator's output")

// A golden case is a directory testdata/<case> with:
//
//	in/          the input: a schema package (and maybe packages it imports)
//	server       optional: the -server directory, relative to in/
//	web          optional: the -web directory, relative to in/
//	want/        the wanted files, by path relative to in/, and
//	want/diagnostics.txt, the wanted diagnostics (positions relative to
//	             the case directory), empty when there are none
//
// Inputs live under testdata so that go build ./... ignores them.
type golden struct {
	name, dir string
	files     map[string][]byte // by path relative to in/
	diags     string
}

func generateCase(t *testing.T, dir string) golden {
	t.Helper()
	cfg := gen.Config{Dir: dir, Patterns: []string{"./in/..."}}
	if b, err := os.ReadFile(filepath.Join(dir, "server")); err == nil {
		cfg.Server = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "web")); err == nil {
		cfg.Web = strings.TrimSpace(string(b))
	}
	res, err := gen.Generate(cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	g := golden{name: filepath.Base(dir), dir: dir, files: map[string][]byte{}}
	var diags strings.Builder
	for _, d := range res.Diagnostics {
		diags.WriteString(d.Format(dir) + "\n")
	}
	g.diags = diags.String()
	for _, f := range res.Files {
		rel, err := filepath.Rel(filepath.Join(dir, "in"), f.Path)
		if err != nil {
			t.Fatal(err)
		}
		g.files[filepath.ToSlash(rel)] = f.Content
	}
	return g
}

func readWant(t *testing.T, dir string) golden {
	t.Helper()
	g := golden{name: filepath.Base(dir), dir: dir, files: map[string][]byte{}}
	want := filepath.Join(dir, "want")
	err := filepath.WalkDir(want, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, path)
		if rel == "diagnostics.txt" {
			g.diags = string(b)
		} else {
			g.files[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func writeWant(t *testing.T, g golden) {
	t.Helper()
	want := filepath.Join(g.dir, "want")
	if err := os.RemoveAll(want); err != nil {
		t.Fatal(err)
	}
	for rel, b := range g.files {
		p := filepath.Join(want, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(want, "diagnostics.txt"), []byte(g.diags), 0o644); err != nil {
		t.Fatal(err)
	}
}

func cases(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			abs, err := filepath.Abs(filepath.Join("testdata", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, abs)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	return dirs
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestGolden generates every case and compares the files and diagnostics
// with the wanted ones; generating a second time must give the same bytes.
func TestGolden(t *testing.T) {
	for _, dir := range cases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := generateCase(t, dir)
			again := generateCase(t, dir)
			if got.diags != again.diags {
				t.Errorf("diagnostics differ between two runs:\n%s\n---\n%s", got.diags, again.diags)
			}
			for name, b := range got.files {
				if !bytes.Equal(b, again.files[name]) {
					t.Errorf("%s differs between two runs", name)
				}
			}
			if *update {
				writeWant(t, got)
				return
			}
			want := readWant(t, dir)
			if got.diags != want.diags {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", got.diags, want.diags)
			}
			if g, w := strings.Join(sortedKeys(got.files), " "), strings.Join(sortedKeys(want.files), " "); g != w {
				t.Errorf("generated files [%s], want [%s]", g, w)
			}
			for name, b := range got.files {
				if w, ok := want.files[name]; ok && !bytes.Equal(b, w) {
					t.Errorf("%s differs from want/%s (run go test ./internal/gen -update to accept):\n%s", name, name, lineDiff(string(w), string(b)))
				}
			}
		})
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + a + "\ngot:  " + b
		}
	}
	return ""
}

// TestGoldenBuild compiles every case whose wanted output has no errors,
// together with its inputs, and runs the inputs' tests against it: the
// wanted files are real code, and their dispatchers and clones work.
func TestGoldenBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the golden packages with the go command")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	for _, dir := range cases(t) {
		want := readWant(t, dir)
		if len(want.files) == 0 {
			continue // an error case: nothing generated
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// A directory whose name starts with "_" is inside the module
			// (so it can import the runtime) but ignored by ./... patterns.
			build, err := os.MkdirTemp(".", "_golden-"+filepath.Base(dir)+"-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(build) })
			if err := os.CopyFS(build, os.DirFS(filepath.Join(dir, "in"))); err != nil {
				t.Fatal(err)
			}
			for rel, b := range want.files {
				p := filepath.Join(build, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Imports of the input packages now mean the copies.
			const module = "github.com/better-state/better-state/internal/gen/"
			inPath := module + "testdata/" + filepath.Base(dir) + "/in"
			buildPath := module + filepath.Base(build)
			var pkgs []string
			err = filepath.WalkDir(build, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					if m, _ := filepath.Glob(filepath.Join(path, "*.go")); len(m) > 0 {
						pkgs = append(pkgs, "./"+filepath.ToSlash(path))
					}
					return nil
				}
				if strings.HasSuffix(path, ".go") {
					b, err := os.ReadFile(path)
					if err != nil {
						return err
					}
					return os.WriteFile(path, bytes.ReplaceAll(b, []byte(`"`+inPath), []byte(`"`+buildPath)), 0o644)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				append([]string{"vet"}, pkgs...),
				append([]string{"test", "-count=1"}, pkgs...),
			} {
				cmd := exec.Command(gobin, args...)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				t.Logf("go %s:\n%s", args[0], out)
			}
		})
	}
}

// TestDeterminismFindings names, for each construct the determinism check
// refuses or warns about, the action of testdata/nondet that uses it and
// the message it must get, including what to use instead.
// refusedDiagnostics generates testdata/name, which must be refused, and
// returns its diagnostics, one line each and joined.
func refusedDiagnostics(t *testing.T, name string) ([]string, string) {
	t.Helper()
	dir, _ := filepath.Abs("testdata/" + name)
	res, err := gen.Generate(gen.Config{Dir: dir, Patterns: []string{"./in"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasErrors() || len(res.Files) != 0 {
		t.Fatalf("want errors and no files, got %d files", len(res.Files))
	}
	var lines []string
	for _, d := range res.Diagnostics {
		lines = append(lines, d.Format(dir))
	}
	return lines, strings.Join(lines, "\n")
}

func TestDeterminismFindings(t *testing.T) {
	lines, all := refusedDiagnostics(t, "nondet")
	for _, tc := range []struct{ construct, want string }{
		{"time.Now", "in/nondet.go:38:50: S.Now calls time.Now: the clock differs between replicas; use ctx.Time()"},
		{"time.Since", "in/nondet.go:39:53: S.Since calls time.Since: the clock differs between replicas; use ctx.Time()"},
		{"time.Until", "in/nondet.go:40:53: S.Until calls time.Until: the clock differs between replicas; use ctx.Time()"},
		{"math/rand", "in/nondet.go:41:49: S.Rand calls math/rand.Intn: its random source differs between replicas; use ctx.Rand()"},
		{"math/rand/v2", "in/nondet.go:43:8: S.RandV2 calls math/rand/v2.IntN: its random source differs between replicas; use ctx.Rand()"},
		{"crypto/rand", "in/nondet.go:48:2: S.CryptoRand calls crypto/rand.Read: it is random on every replica; use ctx.Rand() for random numbers or ctx.NewID() for identifiers"},
		{"os function", "in/nondet.go:53:28: S.Env calls os.Getenv: it depends on the machine the action runs on; an action may read only its state, ctx and arguments"},
		{"os variable", "in/nondet.go:56:52: S.Args uses os.Args: it depends on the machine"},
		{"net", "in/nondet.go:58:14: S.Lookup calls net.LookupHost: it does network I/O, which differs between replicas; do I/O outside actions and pass its results as arguments"},
		{"go statement", "in/nondet.go:63:2: S.Go starts a goroutine: an action runs to completion on one goroutine"},
		{"channel send", "in/nondet.go:68:4: S.Send sends on a channel: an action runs to completion on one goroutine"},
		{"channel receive", "in/nondet.go:73:8: S.Receive receives from a channel: an action runs to completion on one goroutine"},
		{"select", "in/nondet.go:78:2: S.Select uses select, which picks a ready case at random: an action runs to completion on one goroutine"},
		{"range over channel", "in/nondet.go:88:2: S.RangeChan ranges over a channel, receiving from it"},
		{"global assignment", "in/nondet.go:93:47: S.Global writes the package-level variable counter: package state is not replicated, so replicas diverge; keep the data in the state"},
		{"global increment", "in/nondet.go:94:47: S.GlobalInc writes the package-level variable counter"},
		{"global map element", "in/nondet.go:96:2: S.GlobalMap writes the package-level variable cache"},
		{"delete from a global map", "in/nondet.go:97:9: S.GlobalMap writes the package-level variable cache"},
		{"append to a global slice", "in/nondet.go:100:60: S.GlobalAppend writes the package-level variable last"},
		{"global struct field", "in/nondet.go:101:60: S.GlobalField writes the package-level variable hits"},
		{"through a method and a function", "in/nondet.go:106:52: S.Through calls time.Now (through (*S).stamp -> now): the clock differs"},
		{"inside a closure", "in/nondet.go:110:33: S.Closure calls time.Now: the clock differs"},
		{"as a function value", "in/nondet.go:117:11: S.FuncValue uses time.Now: the clock differs"},
		{"another package of the module", "in/helper/helper.go:10:31: S.OtherPackage calls math/rand.Intn (through helper.Pick): its random source differs between replicas; use ctx.Rand()"},
		{"range over a map (warning)", "in/nondet.go:130:2: warning: S.MapRange ranges over a map: map order differs between replicas; if the order reaches the state, range over slices.Sorted(maps.Keys(m)) instead"},
		{"range over maps.Keys (warning)", "in/nondet.go:138:2: warning: S.MapKeys ranges over maps.Keys, in map order"},
		{"in a rule", "in/nondet.go:186:5: S.ReadRule calls time.Now: the clock differs"},
	} {
		if !strings.Contains(all, tc.want) {
			t.Errorf("%s: no diagnostic %q", tc.construct, tc.want)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "S.Fine ") || strings.Contains(l, "helperNotCalled") || strings.Contains(l, "Tally") {
			t.Errorf("deterministic code reported: %s", l)
		}
	}
	if len(lines) != 31 { // and two warnings about int fields
		t.Errorf("%d diagnostics, want 31:\n%s", len(lines), all)
	}
}

// TestDeterminismHoles: each hole of issue 21 in testdata/holes is refused
// or warned about, with its place and its fix; what is fine is not reported.
func TestDeterminismHoles(t *testing.T) {
	_, all := refusedDiagnostics(t, "holes")
	for _, tc := range []struct{ construct, want string }{
		{"fused x*y + z", "in/holes.go:35:9: S.Fused multiplies floats without rounding the product: on arm64"},
		{"its fix", "round the product explicitly: write float64(x * y)"},
		{"fused across statements", "in/holes.go:47:9: S.AcrossStatements multiplies floats without rounding the product"},
		{"*= on floats", "in/holes.go:54:6: S.Scale multiplies floats with *= without rounding the product"},
		{"(time.Time).Local", "in/holes.go:64:50: S.Local calls (time.Time).Local: the local time zone is the machine's"},
		{"time.Local", "in/holes.go:65:58: S.In uses time.Local"},
		{"time.LoadLocation", "in/holes.go:67:14: S.Zone calls time.LoadLocation: it reads the machine's time zone database"},
		{"timers", "in/holes.go:75:43: S.Sleep calls time.Sleep: timers fire at different moments"},
		{"hash/maphash", "in/holes.go:78:29: S.MapHash calls hash/maphash.MakeSeed: its seeds are random per process"},
		{"runtime function", "in/holes.go:81:60: S.Goroutines calls runtime.NumGoroutine"},
		{"runtime constant", "in/holes.go:82:56: S.GOOS uses runtime.GOOS"},
		{"reflect map order (warning)", "in/holes.go:84:20: warning: S.MapKeys calls (reflect.Value).MapKeys, which returns a map's keys in map order"},
		{"unsafe", "in/holes.go:89:56: S.Sizeof uses unsafe.Sizeof: it depends on the memory layout"},
		{"sync", "in/holes.go:94:2: S.Lock calls (*sync.Mutex).Lock"},
		{"another module", "S.OtherModule calls (*github.com/dave/jennifer/jen.Statement).GoString, in another module, whose code bsgen does not follow: if it depends only on its arguments, declare it in the schema package with //bs:pure github.com/dave/jennifer/jen <why>"},
		{"through an interface", "S.Interface calls time.Now (through (clock).Name): the clock differs"},
		{"a function value (warning)", "in/holes.go:126:57: warning: S.FuncValue calls the function value hook, which bsgen cannot follow"},
		{"a product in a generic helper", "S.Generic multiplies floats without rounding the product (through mul)"},
		{"complex product", "S.Complex multiplies complex numbers: a complex product is a sum of float products"},
		{"time.Unix in the local zone", "S.Unix calls time.Unix, whose result is in the machine's time zone"},
		{"machine-sized int (warning)", "in/holes.go:30:2: warning: field S.W of state S holds int, whose size depends on the machine"},
	} {
		if !strings.Contains(all, tc.want) {
			t.Errorf("%s: no diagnostic %q", tc.construct, tc.want)
		}
	}
	for _, fine := range []string{"S.Rounded ", "S.Constant ", "S.UTC ", "S.Pure ", "S.Closure ", "S.FineFloats ", "S.Errors ", "S.UnixUTC "} {
		if strings.Contains(all, fine) {
			t.Errorf("deterministic code reported: %s\n%s", fine, all)
		}
	}
}

// TestFileCommit writes a file once and leaves it untouched when its
// content is the same.
func TestFileCommit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "x_bs.go")
	f := gen.File{Path: p, Content: []byte("package x\n")}
	if changed, err := f.Commit(); err != nil || !changed {
		t.Fatalf("first commit: %v %v", changed, err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.Commit(); err != nil || changed {
		t.Fatalf("second commit: %v %v", changed, err)
	}
	if st, _ := os.Stat(p); !st.ModTime().Equal(old) {
		t.Fatalf("unchanged file rewritten: mtime %v", st.ModTime())
	}
	f.Content = []byte("package y\n")
	if changed, err := f.Commit(); err != nil || !changed {
		t.Fatalf("changed commit: %v %v", changed, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "package y\n" {
		t.Fatalf("content %q", b)
	}
}

// TestExamplesUpToDate regenerates the examples and compares with the
// committed files, byte for byte: what go generate ./examples/... writes.
func TestExamplesUpToDate(t *testing.T) {
	for _, ex := range []struct{ dir, server string }{
		{"../../examples/todos", "./cmd/todos-server"},
		{"../../examples/polls", "./cmd/polls-server"},
	} {
		res, err := gen.Generate(gen.Config{Dir: ex.dir, Server: ex.server})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Diagnostics) != 0 {
			t.Errorf("%s: diagnostics %v", ex.dir, res.Diagnostics)
		}
		if len(res.Files) != 2 {
			t.Fatalf("%s: %d files", ex.dir, len(res.Files))
		}
		for _, f := range res.Files {
			b, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, f.Content) {
				t.Errorf("%s is stale: run go generate ./examples/...", f.Path)
			}
		}
	}
}

package layout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/better-state/better-state"

type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// list runs go list -json on patterns.
func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, patterns...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func has(deps []string, path string) bool {
	for _, d := range deps {
		if d == path || strings.HasPrefix(d, path+"/") {
			return true
		}
	}
	return false
}

// Each binary links only its side of the seam: servers no client, clients
// no server and no server storage.
func TestBinariesLinkOneSide(t *testing.T) {
	for _, p := range list(t, "./examples/...") {
		if p.Name != "main" {
			continue
		}
		server := strings.HasSuffix(p.ImportPath, "-server")
		switch {
		case server && has(p.Deps, module+"/runtime/client"):
			t.Errorf("%s (a server) links runtime/client", p.ImportPath)
		case !server && (has(p.Deps, module+"/runtime/server") || has(p.Deps, module+"/runtime/storage")):
			t.Errorf("%s (a client) links runtime/server or runtime/storage", p.ImportPath)
		}
	}
}

// The import rules of docs/ARCHITECTURE.md.
func TestImportRules(t *testing.T) {
	rules := map[string][]string{
		// package: module packages it must not import (directly or not)
		"schema":                    {"runtime", "internal"},
		"runtime/contract":          {"runtime/client", "runtime/server", "runtime/protocol", "internal"},
		"runtime/protocol":          {"runtime/client", "runtime/server", "internal"},
		"runtime/client":            {"runtime/server", "runtime/storage"},
		"runtime/server":            {"runtime/client"},
		"examples/todos":            {"runtime/client", "runtime/server", "internal"},
		"examples/polls":            {"runtime/client", "runtime/server", "internal"},
		"examples/counter":          {"runtime/client", "runtime/server", "internal"},
		"runtime/storage":           {"runtime/server", "runtime/client", "runtime/contract", "runtime/protocol"},
		"internal/gen/model":        {"runtime", "internal/gen/load", "internal/gen/emit"},
		"runtime/client/cli":        {"runtime/server", "runtime/storage"},
		"runtime/server/servertest": {"runtime/client"},
		"runtime/server/serve":      {"runtime/client"},
		"internal/gen":              {"runtime/client", "runtime/server"},
		"templates":                 {"runtime", "internal"},
	}
	pkgs := map[string]pkg{}
	for _, p := range list(t, "./...") {
		pkgs[strings.TrimPrefix(p.ImportPath, module+"/")] = p
	}
	for path, banned := range rules {
		p, ok := pkgs[path]
		if !ok {
			continue // a rule for a package that does not exist (yet)
		}
		for _, b := range banned {
			if has(p.Deps, module+"/"+b) {
				t.Errorf("%s depends on %s", path, b)
			}
		}
	}
}

// No package of the module is named like a standard library package.
func TestNoPackageShadowsTheStandardLibrary(t *testing.T) {
	std := map[string]bool{}
	for _, p := range list(t, "std") {
		if !strings.Contains(p.ImportPath, "internal") && !strings.Contains(p.ImportPath, "vendor/") {
			std[p.Name] = true
		}
	}
	for _, p := range list(t, "./...") {
		if p.Name != "main" && std[p.Name] {
			t.Errorf("%s is named %q, like a standard library package", p.ImportPath, p.Name)
		}
	}
}

// No hand-written, non-test Go file is over 500 lines: a file that long
// mixes concerns.
func TestFileSizes(t *testing.T) {
	for _, p := range list(t, "./...") {
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(b, []byte("// Code generated")) {
				continue
			}
			n := 0
			for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
				n++
			}
			if n > 500 {
				t.Errorf("%s/%s has %d lines (at most 500)", p.ImportPath, f, n)
			}
		}
	}
}

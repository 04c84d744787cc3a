package templates

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite apps/ from examples/")

// fromExamples returns what apps/ must hold: every file of each example
// except tests and benchmarks that use this module's internal packages
// (a scaffolded app cannot import them), as NAME.tmpl.
func fromExamples(t *testing.T) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for _, app := range []string{"counter", "todos", "polls"} {
		root := filepath.Join("..", "examples", app)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(`"github.com/better-state/better-state/internal/`)) {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			want[filepath.ToSlash(filepath.Join("apps", app, rel))+".tmpl"] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func TestTemplatesMatchExamples(t *testing.T) {
	want := fromExamples(t)
	have := map[string][]byte{}
	filepath.WalkDir("apps", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tmpl") {
			b, _ := os.ReadFile(p)
			have[filepath.ToSlash(p)] = b
		}
		return nil
	})
	if *update {
		for p := range have {
			os.Remove(p)
		}
		for p, b := range want {
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for p, b := range want {
		if !bytes.Equal(have[p], b) {
			t.Errorf("%s differs from its example: run go generate ./templates", p)
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			t.Errorf("%s has no example any more: run go generate ./templates", p)
		}
	}
}

func TestRenderRewritesImports(t *testing.T) {
	files, err := Render(Options{App: "todos", Module: "example.com/mytodos", Replace: "/src/bs"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"todos.go", "todos_bs.go", "cmd/todos-server/main.go", "cmd/todos/main.go", "go.mod", "README.md"} {
		if _, ok := files[p]; !ok {
			t.Errorf("no %s", p)
		}
	}
	for p, b := range files {
		if bytes.Contains(b, []byte(ExamplesModule)) {
			t.Errorf("%s still imports the example's path", p)
		}
	}
	if !bytes.Contains(files["go.mod"], []byte("replace github.com/better-state/better-state => /src/bs")) {
		t.Errorf("go.mod: %s", files["go.mod"])
	}
	if _, err := Render(Options{App: "nope", Module: "m"}); err == nil {
		t.Error("unknown app rendered")
	}
}

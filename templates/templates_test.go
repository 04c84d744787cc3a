package templates

import (
	"bytes"
	"go/format"
	"strings"
	"testing"
)

func TestRenderLayout(t *testing.T) {
	for _, app := range Apps() {
		t.Run(app, func(t *testing.T) {
			// A module path without a dot sorts before github.com/... in
			// an import group: the rendered files must still be gofmt-clean.
			files, err := Render(Options{App: app, Module: "myapp", Replace: "/src/bs"})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{app + "/" + app + ".go", app + "/" + app + "_bs.go", "cmd/" + app + "-server/main.go", "cmd/" + app + "/main.go", "go.mod", "README.md"} {
				if _, ok := files[p]; !ok {
					t.Errorf("no %s", p)
				}
			}
			for p, b := range files {
				if bytes.Contains(b, []byte(examplesPath)) {
					t.Errorf("%s still names the examples' import path", p)
				}
				if bytes.Contains(b, []byte(ThisModule+"/internal/")) {
					t.Errorf("%s imports Better-State's internal packages", p)
				}
				if strings.HasSuffix(p, ".go") {
					if f, err := format.Source(b); err != nil || !bytes.Equal(f, b) {
						t.Errorf("%s is not gofmt-clean (%v)", p, err)
					}
				}
			}
			if !bytes.Contains(files["cmd/"+app+"/main.go"], []byte(`"myapp/`+app+`"`)) {
				t.Errorf("the client does not import myapp/%s", app)
			}
			if !bytes.Contains(files[app+"/"+app+".go"], []byte("//go:generate go tool bsgen -server ../cmd/"+app+"-server")) {
				t.Errorf("the schema's go:generate line was not rewritten:\n%s", files[app+"/"+app+".go"])
			}
			mod := string(files["go.mod"])
			for _, want := range []string{"module myapp\n", "replace " + ThisModule + " => /src/bs", "tool " + BsgenTool} {
				if !strings.Contains(mod, want) {
					t.Errorf("go.mod lacks %q:\n%s", want, mod)
				}
			}
		})
	}
}

func TestReadmeListsSubcommands(t *testing.T) {
	files, err := Render(Options{App: "todos", Module: "example.com/mytodos"})
	if err != nil {
		t.Fatal(err)
	}
	readme := string(files["README.md"])
	for _, want := range []string{"todos [flags] add TITLE...", "todos [flags] watch", "go run ./cmd/todos-server"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q:\n%s", want, readme)
		}
	}
	if _, err := Render(Options{App: "nope", Module: "m"}); err == nil || !strings.Contains(err.Error(), "counter, todos, polls") {
		t.Errorf("unknown app: %v", err)
	}
}

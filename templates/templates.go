// Package templates holds the apps that `bsgen init` scaffolds, embedded in
// the binary. Each app directory is a copy of an example under examples/,
// made by `go generate` in this directory (files become NAME.tmpl so that Go
// does not build them here); TestTemplatesMatchExamples fails when a copy
// and its example differ, so the scaffold cannot fall behind the examples.
// cmd/bsgen imports it.
package templates

//go:generate go test -run TestTemplatesMatchExamples -update .

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed all:apps
var apps embed.FS

// ExamplesModule is the import path prefix of the examples; Render replaces
// it with the new app's module path.
const ExamplesModule = "github.com/better-state/better-state/examples/"

// ThisModule is the module path of Better-State itself.
const ThisModule = "github.com/better-state/better-state"

// Apps lists the app names: "counter" (the blank app), "todos", "polls".
func Apps() []string {
	ents, _ := fs.ReadDir(apps, "apps")
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Options say what to render.
type Options struct {
	App     string // an entry of Apps
	Module  string // the new app's module path
	Replace string // if set, a local checkout of Better-State to use (absolute path)
}

// Render returns the new app's files: path (slash-separated, relative to
// the app's root) to content.
func Render(o Options) (map[string][]byte, error) {
	root := "apps/" + o.App
	if _, err := fs.Stat(apps, root); err != nil {
		return nil, fmt.Errorf("templates: no app %q (there are %s)", o.App, strings.Join(Apps(), ", "))
	}
	if o.Module == "" {
		return nil, fmt.Errorf("templates: a module path is needed")
	}
	files := map[string][]byte{}
	err := fs.WalkDir(apps, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return err
		}
		b, err := apps.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		b = bytes.ReplaceAll(b, []byte(ExamplesModule+o.App), []byte(o.Module))
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	files["go.mod"] = goMod(o)
	files["README.md"] = readme(o)
	files[".gitignore"] = []byte("*.db\n*.db-wal\n*.db-shm\n." + o.App + "/\n")
	return files, nil
}

func goMod(o Options) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo 1.26\n\nrequire %s v0.0.0-00010101000000-000000000000\n", o.Module, ThisModule)
	if o.Replace != "" {
		fmt.Fprintf(&b, "\nreplace %s => %s\n", ThisModule, o.Replace)
	}
	return []byte(b.String())
}

func readme(o Options) []byte {
	name := path.Base(o.Module)
	return []byte(fmt.Sprintf(`# %s

A Better-State app: shared state in %s.go, generated code in %s_bs.go
(`+"`go generate ./...`"+` remakes it), a server in cmd/%s-server and a
command-line client in cmd/%s.

Run the sync server (data in ./better-state.db, development key "dev"):

    go run ./cmd/%s-server --dev-key dev

Run the tests (a real server and real clients, end to end):

    go test ./...

Then, in two terminals:

    go run ./cmd/%s --key dev --dir .one ...
    go run ./cmd/%s --key dev --dir .two ...
`, name, o.App, o.App, o.App, o.App, o.App, o.App, o.App))
}

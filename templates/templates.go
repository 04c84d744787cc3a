// Package templates renders the apps that `bsgen init` scaffolds from the
// examples themselves (package examples embeds them), so a scaffold is
// always the code this repository builds and tests. cmd/bsgen imports it.
//
// A new app with module path M made from example E is laid out as
//
//	go.mod            requires Better-State, and names bsgen as a tool
//	E/                the schema package (import path M/E) and its tests
//	cmd/E-server/     the generated server
//	cmd/E/            the command-line client
//	README.md
//
// so every package's name matches its import path. Files of an example that
// import this module's internal packages (a new module cannot) are left out.
package templates

import (
	"bytes"
	"fmt"
	"go/format"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/better-state/better-state/examples"
)

// ThisModule is the module path of Better-State itself.
const ThisModule = "github.com/better-state/better-state"

// BsgenTool is the package a new app's go.mod names as a tool, so that
// `go tool bsgen` runs the generator at the version the app requires.
const BsgenTool = ThisModule + "/cmd/bsgen"

// examplesPath is the import path prefix of the examples.
const examplesPath = ThisModule + "/examples/"

// Apps lists the app names: "counter" (the blank app), "todos", "polls".
func Apps() []string { return slices.Clone(examples.Names) }

// Options say what to render.
type Options struct {
	App     string // an entry of Apps
	Module  string // the new app's module path
	Replace string // if set, a local checkout of Better-State to use (absolute path)
}

// Render returns the new app's files: path (slash-separated, relative to
// the app's root) to content. Go files are gofmt-clean.
func Render(o Options) (map[string][]byte, error) {
	if !slices.Contains(examples.Names, o.App) {
		return nil, fmt.Errorf("templates: no app %q (there are %s)", o.App, strings.Join(examples.Names, ", "))
	}
	if o.Module == "" {
		return nil, fmt.Errorf("templates: a module path is needed")
	}
	// Longest first: the commands' paths before the schema package's.
	rewrite := strings.NewReplacer(
		examplesPath+o.App+"/cmd/", o.Module+"/cmd/",
		examplesPath+o.App, o.Module+"/"+o.App,
		"//go:generate go tool bsgen -server ./cmd/", "//go:generate go tool bsgen -server ../cmd/",
		" -wasm ./cmd/", " -wasm ../cmd/",
	)
	files := map[string][]byte{}
	err := fs.WalkDir(examples.FS, o.App, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := examples.FS.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`"`+ThisModule+`/internal/`)) {
			return nil
		}
		rel := strings.TrimPrefix(p, o.App+"/")
		if !strings.HasPrefix(rel, "cmd/") {
			rel = o.App + "/" + rel
		}
		b = []byte(rewrite.Replace(string(b)))
		if strings.HasSuffix(p, ".go") {
			if b, err = format.Source(b); err != nil {
				return fmt.Errorf("templates: %s: %w", p, err)
			}
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	files["go.mod"] = goMod(o)
	files["README.md"] = readme(o, files["cmd/"+o.App+"/main.go"])
	files[".gitignore"] = []byte("*.db\n*.db-wal\n*.db-shm\n." + o.App + "/\n" + o.App + "/web/dist/\n")
	return files, nil
}

func goMod(o Options) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo 1.26\n\nrequire %s v0.0.0-00010101000000-000000000000\n", o.Module, ThisModule)
	if o.Replace != "" {
		fmt.Fprintf(&b, "\nreplace %s => %s\n", ThisModule, o.Replace)
	}
	fmt.Fprintf(&b, "\ntool %s\n", BsgenTool)
	return []byte(b.String())
}

// usage returns the indented usage lines of a command's doc comment.
func usage(main []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(string(main), "\n") {
		if strings.HasPrefix(line, "package ") {
			break
		}
		if u, ok := strings.CutPrefix(line, "//\t"); ok {
			b.WriteString("    " + u + "\n")
		}
	}
	return b.String()
}

func readme(o Options, cliMain []byte) []byte {
	name, app := path.Base(o.Module), o.App
	return []byte(fmt.Sprintf(`# %[1]s

A Better-State app. The shared state and its actions are in %[2]s/%[2]s.go;
%[2]s/%[2]s_bs.go and cmd/%[2]s-server are generated from it by bsgen.

After changing %[2]s/%[2]s.go, regenerate and check:

    go generate ./...
    go vet ./... && go test ./...

Run the sync server (data in ./better-state.db, development key "dev"):

    go run ./cmd/%[2]s-server --dev-key dev --addr 127.0.0.1:8080

The command-line client (flags before the subcommand; --url or BS_URL,
--key or BS_KEY):

%[3]s
For example, in two terminals:

    go run ./cmd/%[2]s --key dev --dir .one ...
    go run ./cmd/%[2]s --key dev --dir .two ...
`, name, app, usage(cliMain)))
}

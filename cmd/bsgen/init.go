package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/better-state/better-state/templates"
)

// initCmd is `bsgen init [--example todos|polls] [--module PATH] [--replace DIR] DIR`.
func initCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bsgen init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	example := fs.String("example", "", "scaffold this example instead of the blank app: todos or polls")
	module := fs.String("module", "", "module path of the new app (default: DIR's base name)")
	replace := fs.String("replace", "", "use this local Better-State checkout (adds a replace directive)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bsgen init [--example todos|polls] [--module PATH] [--replace DIR] DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)
	app := "counter"
	if *example != "" {
		if *example == "counter" || !contains(templates.Apps(), *example) {
			fmt.Fprintf(stderr, "bsgen init: no example %q (there are todos and polls)\n", *example)
			return 2
		}
		app = *example
	}
	if *module == "" {
		abs, _ := filepath.Abs(dir)
		*module = filepath.Base(abs)
	}
	if *replace != "" {
		abs, err := filepath.Abs(*replace)
		if err != nil {
			fmt.Fprintf(stderr, "bsgen init: %v\n", err)
			return 1
		}
		*replace = abs
	}
	if err := checkEmpty(dir); err != nil {
		fmt.Fprintf(stderr, "bsgen init: %v\n", err)
		return 1
	}
	files, err := templates.Render(templates.Options{App: app, Module: *module, Replace: *replace})
	if err != nil {
		fmt.Fprintf(stderr, "bsgen init: %v\n", err)
		return 1
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			fmt.Fprintf(stderr, "bsgen init: %v\n", err)
			return 1
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			fmt.Fprintf(stderr, "bsgen init: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "Made %s (module %s, app %s). Next:\n\n  cd %s\n  go mod tidy\n  go run ./cmd/%s-server --dev-key dev   # the server\n  go test ./...                          # the tests\n", dir, *module, app, dir, app)
	if *replace == "" {
		fmt.Fprintln(stdout, "\n(Better-State has no published version yet: add a replace directive to a checkout, or use --replace.)")
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkEmpty refuses a DIR that exists and has anything in it.
func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		names := []string{}
		for i, e := range ents {
			if i == 3 {
				names = append(names, "...")
				break
			}
			names = append(names, e.Name())
		}
		return fmt.Errorf("%s is not empty (%s): init writes only into a new or empty directory", dir, strings.Join(names, ", "))
	}
	return nil
}

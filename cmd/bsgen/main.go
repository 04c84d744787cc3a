// Command bsgen generates the Go code of Better-State schema packages: for
// each type marked //bs:state, the action envelopes, a deep Clone and the
// type descriptor with its dispatcher, in <package>_bs.go; with -server DIR,
// also a server main in DIR. The generated file imports only the contract
// (runtime/contract) and schema, so a client binary does not link the server.
//
// Add it to a module as a tool, then run it from go:generate:
//
//	go get -tool github.com/better-state/better-state/cmd/bsgen
//	//go:generate go tool bsgen [-server DIR] [packages]
//
// Packages default to ".". bsgen refuses (exit status 1) actions that could
// make replicas diverge, and prints every finding as file:line:col.
//
//	bsgen init [--example todos|polls] [--module PATH] [--replace DIR] DIR
//
// scaffolds a new app (see package templates).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/better-state/better-state/internal/gen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  bsgen [-server DIR] [-web DIR] [-wasm DIR] [-v] [packages]
                                         generate <package>_bs.go (default package: .)
  bsgen init [--example todos|polls] [--module PATH] [--replace DIR] DIR
                                         scaffold a new app in DIR
  bsgen help                             this text

Run it from a go:generate line of the schema package:
  //go:generate go tool bsgen -server ./cmd/APP-server
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "init":
			return initCmd(args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	flags := flag.NewFlagSet("bsgen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	server := flags.String("server", "", "also write `DIR`/main.go, a server for the package (DIR is relative to the package's directory)")
	web := flags.String("web", "", "also write `DIR`/PKG.js and PKG.d.ts, the package's typed JavaScript API over the WebAssembly client")
	wasm := flags.String("wasm", "", "also write `DIR`/main.go, the package's WebAssembly client (GOOS=js GOARCH=wasm)")
	verbose := flags.Bool("v", false, "print the files written")
	flags.Usage = func() {
		fmt.Fprint(stderr, usage+"\nflags:\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	res, err := gen.Generate(gen.Config{Patterns: flags.Args(), Server: *server, Web: *web, Wasm: *wasm})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	wd, _ := os.Getwd()
	for _, d := range res.Diagnostics {
		fmt.Fprintln(stderr, d.Format(wd))
	}
	if res.HasErrors() {
		return 1
	}
	for _, f := range res.Files {
		_, statErr := os.Stat(f.Path)
		changed, err := f.Commit()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if changed && *verbose {
			fmt.Fprintln(stderr, "bsgen: wrote", f.Path)
		}
		if changed && errors.Is(statErr, fs.ErrNotExist) && filepath.Base(f.Path) == "main.go" {
			// A new server or WebAssembly client imports packages whose
			// dependencies the module may not list yet.
			fmt.Fprintf(stderr, "bsgen: wrote the command %s; run go mod tidy if go build asks for go.sum entries\n", rel(wd, f.Path))
		}
	}
	return 0
}

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}

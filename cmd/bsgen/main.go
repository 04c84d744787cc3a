// Command bsgen generates the Go code of Better-State schema packages: for
// each type marked //bs:state, the action envelopes, a deep Clone, the
// runtime type descriptor and dispatcher, and a typed client store, in
// <package>_bs.go; with -server DIR, also a server main in DIR.
//
//	//go:generate go run github.com/better-state/better-state/cmd/bsgen [-server DIR] [packages]
//
// Packages default to ".". `bsgen init [--example todos|polls] DIR` scaffolds
// a new app (see package templates). bsgen refuses (exit status 1) actions that could
// make replicas diverge, and prints every finding as file:line:col.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/better-state/better-state/internal/gen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(initCmd(os.Args[2:], os.Stdout, os.Stderr))
	}
	server := flag.String("server", "", "also write `DIR`/main.go, a server for the package (DIR is relative to the package's directory)")
	verbose := flag.Bool("v", false, "print the files written")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: bsgen [-server DIR] [-v] [packages]")
		flag.PrintDefaults()
	}
	flag.Parse()

	res, err := gen.Generate(gen.Config{Patterns: flag.Args(), Server: *server})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wd, _ := os.Getwd()
	for _, d := range res.Diagnostics {
		fmt.Fprintln(os.Stderr, d.Format(wd))
	}
	if res.HasErrors() {
		os.Exit(1)
	}
	for _, f := range res.Files {
		changed, err := f.Commit()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if changed && *verbose {
			fmt.Fprintln(os.Stderr, "bsgen: wrote", f.Path)
		}
	}
}

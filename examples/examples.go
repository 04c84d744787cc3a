// Package examples embeds the example apps, so that `bsgen init` scaffolds
// new apps from exactly the code that this repository builds and tests.
// The apps themselves are the packages below it: counter (the blank app),
// todos and polls.
package examples

import "embed"

// FS holds each example app's Go sources under its name ("todos/todos.go",
// "todos/cmd/todos/main.go", ...), and its web page's files (not its
// built dist/). Hidden files and testdata are left out.
//
//go:embed counter/*.go counter/cmd counter/web/*.html counter/web/*.js counter/web/*.ts
//go:embed todos/*.go todos/cmd todos/web/*.html todos/web/*.js todos/web/*.css todos/web/*.ts
//go:embed polls/*.go polls/cmd
var FS embed.FS

// Names lists the example apps, the blank app first.
var Names = []string{"counter", "todos", "polls"}

// Package browser holds better-state.js, the page's side of the
// WebAssembly client (runtime/client/wasm): IndexedDB for the queue, one
// client per tab, loading. Servers serve it next to an app's page
// (serve's --web) at /better-state.js.
package browser

import _ "embed"

// Script is better-state.js.
//
//go:embed better-state.js
var Script []byte

package emit

import (
	"fmt"
	"go/format"
	"strings"

	"github.com/better-state/better-state/internal/gen/model"
)

// WasmPath is the import path of the WebAssembly bridge.
const WasmPath = "github.com/better-state/better-state/runtime/client/wasm"

// WasmMain returns the main package of p's WebAssembly client, named
// command: runtime/client with p's reducers, for web pages.
func WasmMain(p *model.Package, command string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s\n\n//go:build js && wasm\n\n", model.Header)
	fmt.Fprintf(&b, "// Command %s is the client of package %s for web pages: runtime/client\n// compiled to WebAssembly with the package's reducers. Build it with\n// GOOS=js GOARCH=wasm go build; a page loads it with better-state.js.\npackage main\n\n", command, p.Name)
	alias := ""
	if p.Path[strings.LastIndex(p.Path, "/")+1:] != p.Name {
		alias = p.Name + " "
	}
	fmt.Fprintf(&b, "import (\n\t%s%q\n\t%q\n)\n\n", alias, p.Path, WasmPath)
	var types []string
	for _, s := range p.States {
		types = append(types, p.Name+"."+s.Name+"Type")
	}
	fmt.Fprintf(&b, "func main() { wasm.Main(%s) }\n", strings.Join(types, ", "))
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		panic(err) // the text above is Go
	}
	return src
}

// jsReserved are the words a JavaScript (or TypeScript) parameter may not
// be named; storeMethods, the store's own members.
var (
	jsReserved = map[string]bool{
		"arguments": true, "await": true, "break": true, "case": true, "catch": true, "class": true, "const": true, "continue": true,
		"debugger": true, "default": true, "delete": true, "do": true, "else": true, "enum": true, "eval": true, "export": true,
		"extends": true, "false": true, "finally": true, "for": true, "function": true, "if": true, "implements": true, "import": true,
		"in": true, "instanceof": true, "interface": true, "let": true, "new": true, "null": true, "package": true, "private": true,
		"protected": true, "public": true, "return": true, "static": true, "super": true, "switch": true, "this": true, "throw": true,
		"true": true, "try": true, "typeof": true, "var": true, "void": true, "while": true, "with": true, "yield": true,
	}
	storeMethods = map[string]bool{"key": true, "get": true, "subscribe": true, "pending": true, "seq": true}
)

// jsParam is a parameter's name in JavaScript: the Go name, with a "_"
// after a reserved word or the store handle's name.
func jsParam(name string) string {
	if jsReserved[name] || name == "store" {
		return name + "_"
	}
	return name
}

// jsMethod is an action's method name: lowerFirst, with "Action" after a
// name the store's own members take.
func jsMethod(action string) string {
	m := lowerFirst(action)
	if storeMethods[m] || jsReserved[m] {
		m += "Action"
	}
	return m
}

// lowerFirst makes an action name a JavaScript method name: Add -> add,
// SetTitle -> setTitle, URL -> url.
func lowerFirst(s string) string {
	rs := []rune(s)
	i := 0
	for i < len(rs) && rs[i] >= 'A' && rs[i] <= 'Z' {
		i++
	}
	if i > 1 && i < len(rs) {
		i-- // URLPath -> urlPath
	}
	return strings.ToLower(string(rs[:i])) + string(rs[i:])
}

// WebAPI returns the typed JavaScript API of p's states (PKG.js) and its
// TypeScript declarations (PKG.d.ts): for each state, open<State>(client,
// key) resolving to a store with get, subscribe, pending, seq and one
// method per action that runs the action in the page and resolves once it
// is queued durably.
func WebAPI(p *model.Package) (js, dts []byte) {
	var j, d strings.Builder
	fmt.Fprintf(&j, "// %s\n\n// The states of package %s, typed, over the WebAssembly client\n// (better-state.js). Declarations: %s.d.ts.\n\n", model.Header, p.Name, p.Name)
	fmt.Fprintf(&d, "// %s\n\n// The states of package %s, typed, over the WebAssembly client.\n\nimport type { Client } from \"./better-state.js\";\n\n", model.Header, p.Name)
	ts := model.NewTypeScript()
	var stores strings.Builder
	for _, s := range p.States {
		state := ts.TSType(s.Type)
		fmt.Fprintf(&stores, "/** The store of one key of %s (%s). */\nexport interface %sStore {\n", s.Name, s.WireName, s.Name)
		fmt.Fprintf(&stores, "  readonly key: string;\n  /** The state as this page sees it: confirmed, with its own pending actions applied. */\n  get(): %s;\n", state)
		fmt.Fprintf(&stores, "  /** Calls fn with each new state; returns a function that stops it. */\n  subscribe(fn: (state: %s) => void): () => void;\n", state)
		fmt.Fprintf(&stores, "  /** Actions not yet processed by the server. */\n  pending(): number;\n  /** The last seq of the server's log this page holds. */\n  seq(): number;\n")
		fmt.Fprintf(&j, "/** Opens key, a %s. */\nexport async function open%s(client, key) {\n  const store = await client.open(%q, key);\n  return {\n    key,\n    get: () => store.get(),\n    subscribe: (fn) => store.subscribe(fn),\n    pending: () => store.pending(),\n    seq: () => store.seq(),\n", s.WireName, s.Name, s.WireName)
		for _, a := range s.Actions {
			var params, names, obj []string
			for i, prm := range a.Params {
				typ := ts.TSType(prm.Type)
				name := jsParam(prm.Name)
				if a.Variadic && i == len(a.Params)-1 {
					params = append(params, "..."+name+": "+strings.TrimSuffix(typ, " | null"))
					names = append(names, "..."+name)
				} else {
					params = append(params, name+": "+typ)
					names = append(names, name)
				}
				obj = append(obj, fmt.Sprintf("%s: %s", tsProp(prm.Name), name))
			}
			m := jsMethod(a.Name)
			fmt.Fprintf(&stores, "  /** Runs %s in the page at once and queues it for the server; rejects with the action's refusal (err.code). */\n  %s(%s): Promise<void>;\n", a.Name, m, strings.Join(params, ", "))
			args := "{}"
			if len(obj) > 0 {
				args = "{ " + strings.Join(obj, ", ") + " }"
			}
			fmt.Fprintf(&j, "    %s: (%s) => store.mutate(%q, JSON.stringify(%s)),\n", m, strings.Join(names, ", "), a.Name, args)
		}
		stores.WriteString("}\n\n")
		fmt.Fprintf(&stores, "/** Opens key, a %s. */\nexport declare function open%s(client: Client, key: string): Promise<%sStore>;\n\n", s.WireName, s.Name, s.Name)
		j.WriteString("  };\n}\n\n")
	}
	d.WriteString(ts.Decls())
	d.WriteString(strings.TrimRight(stores.String(), "\n") + "\n")
	return []byte(strings.TrimRight(j.String(), "\n") + "\n"), []byte(d.String())
}

// tsProp is a property key in an object literal.
func tsProp(s string) string {
	for i, r := range s {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

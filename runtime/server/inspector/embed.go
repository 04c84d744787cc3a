// Package inspector is the web page a server shows at /inspect when it
// runs with --inspect: the namespaces and keys, a key's timeline, its
// state at any seq and the blame of any field (docs/GUIDE.md, "The
// inspector"). The page is plain HTML, CSS and JavaScript embedded in the
// binary; there is no build step.
package inspector

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Handler serves the page under prefix (e.g. "/inspect/").
func Handler(prefix string) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	files := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The page reads with the credential its user typed: nothing
		// from elsewhere runs in it, and no other site frames it.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, ".html") {
			h.Set("Cache-Control", "no-store")
		}
		files.ServeHTTP(w, r)
	})
}

package server

// CORS for REST: a browser app served from an allowed origin (the same
// --allowed-origins patterns that WebSocket upgrades are checked against)
// may call the REST API with its API key.

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed reports whether origin matches one of patterns, as the
// WebSocket upgrade matches them: a pattern with "://" against
// scheme://host, any other against the host, with path.Match, ignoring case.
func originAllowed(origin string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// cors answers preflight requests of allowed origins and adds the CORS
// headers to their requests; other requests pass unchanged (a browser then
// refuses the cross-origin answer itself).
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || r.URL.Path == "/v1/ws" || !originAllowed(origin, s.cfg.OriginPatterns) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

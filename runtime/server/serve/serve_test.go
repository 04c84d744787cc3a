package serve

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/internal/pgtest"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func cmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := mainIO(args, &out, &errb, counter.Register)
	return out.String(), errb.String(), code
}

func TestKeysSubcommand(t *testing.T) {
	keysSubcommand(t, filepath.Join(t.TempDir(), "k.db"))
}

// TestKeysOnPostgres: keys create, list and revoke take a postgres:// URL
// as --db, and a server on that database takes the key.
func TestKeysOnPostgres(t *testing.T) {
	url := pgtest.Start(t).NewDB(t)
	keysSubcommand(t, url)
	key, _, code := cmd(t, "keys", "create", "--db", url, "--ns", "default", "--actor", "bob")
	if code != 0 {
		t.Fatalf("create: %d", code)
	}
	s := servertest.Start(t, servertest.Register(counter.Register), servertest.DBPath(url))
	req, _ := http.NewRequest("GET", s.HTTPURL+"/v1/types", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(key))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a key made by keys create on PostgreSQL: %d", resp.StatusCode)
	}
}

func keysSubcommand(t *testing.T, db string) {
	t.Helper()
	key, stderr, code := cmd(t, "keys", "create", "--db", db, "--ns", "team", "--actor", "ann")
	if code != 0 || !strings.HasPrefix(key, "bs_") || !strings.Contains(stderr, "namespace team") {
		t.Fatalf("create: %d %q %q", code, key, stderr)
	}
	id := strings.Split(key, "_")[1]
	out, _, code := cmd(t, "keys", "list", "--db", db)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "team") || !strings.Contains(out, "ann") {
		t.Fatalf("list: %d %q", code, out)
	}
	if out, _, code := cmd(t, "keys", "revoke", "--db", db, id); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if _, stderr, code := cmd(t, "keys", "revoke", "--db", db, id); code != 1 || !strings.Contains(stderr, "no active key") {
		t.Fatalf("revoke twice: %d %q", code, stderr)
	}
	if _, stderr, code := cmd(t, "keys", "create", "--db", db, "--role", "root"); code != 1 || !strings.Contains(stderr, "admin or client") {
		t.Fatalf("bad role: %d %q", code, stderr)
	}
	if _, _, code := cmd(t, "keys"); code != 2 {
		t.Fatalf("no verb: %d", code)
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	if _, stderr, code := cmd(t, "--log-level", "loud"); code != 2 || !strings.Contains(stderr, "--log-level") {
		t.Fatalf("%d %q", code, stderr)
	}
	if _, stderr, code := cmd(t, "extra"); code != 2 || !strings.Contains(stderr, "unexpected argument") {
		t.Fatalf("%d %q", code, stderr)
	}
}

// TestWebServesOnlyThePage: --web serves a page's files, and nothing else
// of its directory: no database, no dotfile, no listing, nothing a
// symbolic link points to outside it.
func TestWebServesOnlyThePage(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"index.html": "<p>page", "app.js": "js", "better-state.db": "secret", ".env": "secret", "notes.go": "secret", "sub/x.js": "sub"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "outside.js")
	os.WriteFile(outside, []byte("secret"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "link.js")); err != nil {
		t.Fatal(err)
	}
	h, err := webHandler(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/": "<p>page", "/index.html": "<p>page", "/app.js": "js", "/sub/x.js": "sub", "/better-state.js": "navigator.locks",
		"/better-state.db": "", "/.env": "", "/notes.go": "", "/sub/": "", "/link.js": "", "/../app.js": "js", "/%2e%2e/etc/passwd": "",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		got := rec.Body.String()
		switch {
		case want == "" && rec.Code != 404:
			t.Errorf("GET %s: %d %q, want 404", path, rec.Code, got)
		case want != "" && (rec.Code != 200 || !strings.Contains(got, want)):
			t.Errorf("GET %s: %d %q, want %q", path, rec.Code, got, want)
		}
		if strings.Contains(got, "secret") {
			t.Errorf("GET %s served a secret", path)
		}
	}
}

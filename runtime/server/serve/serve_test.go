package serve

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-state/better-state/examples/counter"
)

func cmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := mainIO(args, &out, &errb, counter.Register)
	return out.String(), errb.String(), code
}

func TestKeysSubcommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
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

package serve

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// TestTokensMintWithEd25519: `tokens mint` signs with a PKCS #8 Ed25519
// key file, and a server given the public key file (LoadTokenKeys, as
// --token-public-key-file) takes the token for its actor and grants.
func TestTokensMintWithEd25519(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	pkix, _ := x509.MarshalPKIXPublicKey(pub)
	privFile, pubFile := filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}), 0o644)

	tok, stderr, code := cmd(t, "tokens", "mint", "--actor", "ann", "--grant", "c-{actor}:rw", "--ttl", "10m", "--token-private-key-file", privFile)
	tok = strings.TrimSpace(tok)
	if code != 0 || strings.Count(tok, ".") != 2 {
		t.Fatalf("mint: %d %q %q", code, tok, stderr)
	}
	keys, err := server.LoadTokenKeys("", pubFile)
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.Register(counter.Register), servertest.Config(func(c *server.Config) { c.Tokens = keys }))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(m protocol.Msg) {
		if err := ws.Write(ctx, websocket.MessageText, protocol.Encode(&m)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() protocol.Msg {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := protocol.Decode(b)
		if err != nil || len(ms) != 1 {
			t.Fatalf("%q: %v", b, err)
		}
		return ms[0]
	}
	send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "ed", Auth: tok})
	if m := read(); m.T != protocol.TWelcome || m.Actor != "ann" {
		t.Fatalf("hello with an EdDSA token: %+v", m)
	}
	for key, want := range map[string]string{"c-ann": protocol.TSynced, "c-bob": protocol.TErr} {
		send(protocol.Msg{T: protocol.TSub, Key: key, Type: counter.CounterType.Name, FP: counter.CounterType.Fingerprint})
		if m := read(); m.T != want {
			t.Fatalf("sub %s: %+v", key, m)
		}
	}

	// Refused: no key material, both, a short secret, a bad grant.
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("short"), 0o600)
	for _, args := range [][]string{
		{"tokens", "mint", "--actor", "ann"},
		{"tokens", "mint", "--actor", "ann", "--token-secret-file", secret},
		{"tokens", "mint", "--actor", "ann", "--token-private-key-file", privFile, "--grant", "a/b:rw"},
		{"tokens", "mint", "--actor", "ann", "--token-private-key-file", privFile, "--ttl", "720h"},
	} {
		if _, stderr, code := cmd(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: %d %q", args, code, stderr)
		}
	}
	if _, err := server.LoadTokenKeys(secret, pubFile); err == nil {
		t.Error("both key files taken")
	}
	// keys create --grant, shown by keys list.
	db := filepath.Join(dir, "k.db")
	if _, stderr, code := cmd(t, "keys", "create", "--db", db, "--actor", "ann", "--grant", "c-{actor}:r"); code != 0 {
		t.Fatalf("keys create --grant: %q", stderr)
	}
	if out, _, _ := cmd(t, "keys", "list", "--db", db); !strings.Contains(out, "c-{actor}:r") {
		t.Fatalf("keys list: %q", out)
	}
}

// TestTokensWithAKeySetAndRS256: a server with a JSON Web Key Set takes
// tokens signed by any of its keys (chosen by kid: an Ed25519 and an RSA
// one), and refuses a kid it does not hold or a key used for another
// algorithm.
func TestTokensWithAKeySetAndRS256(t *testing.T) {
	dir := t.TempDir()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":%q},{"kty":"RSA","kid":"rsa-1","n":%q,"e":%q}]}`,
		b64(edPub), b64(rsaPriv.N.Bytes()), b64(big.NewInt(int64(rsaPriv.E)).Bytes()))
	jwks := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwks, []byte(set), 0o644)
	keys, err := server.LoadTokenJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.Register(counter.Register), servertest.Config(func(c *server.Config) { c.Tokens = keys }))
	mint := func(key any, kid string) string {
		tok, err := server.MintTokenKid(key, kid, "default", "ann", []string{"*:rw"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name, tok string
		ok        bool
	}{
		{"EdDSA by kid", mint(edPriv, "ed-1"), true},
		{"RS256 by kid", mint(rsaPriv, "rsa-1"), true},
		{"an unknown kid", mint(edPriv, "ed-2"), false},
		{"the RSA kid signed with Ed25519", mint(edPriv, "rsa-1"), false},
		{"no kid", mint(edPriv, ""), false},
		{"HS256 with the key set", mint([]byte("0123456789abcdef0123456789abcdef"), "ed-1"), false},
	} {
		req, _ := http.NewRequest("GET", s.HTTPURL+"/v1/types", nil)
		req.Header.Set("Authorization", "Bearer "+tc.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ok := resp.StatusCode == 200; ok != tc.ok {
			t.Errorf("%s: status %d", tc.name, resp.StatusCode)
		}
	}
	for _, bad := range []string{`{"keys":[]}`, `{"keys":[{"kty":"EC","kid":"x"}]}`, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"}]}`, `nope`} {
		os.WriteFile(jwks, []byte(bad), 0o644)
		if _, err := server.LoadTokenJWKS(jwks); err == nil {
			t.Errorf("key set %s taken", bad)
		}
	}
}

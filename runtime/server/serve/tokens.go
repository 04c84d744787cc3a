package serve

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/better-state/better-state/runtime/server"
)

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// tokensCmd is `tokens mint`: an end-user token for development and tests,
// signed with the secret the server verifies (--token-secret-file) or the
// private key whose public key it holds (--token-private-key-file, PEM
// PKCS #8, Ed25519 or RSA). An app's backend mints its tokens itself.
func tokensCmd(args []string, stdout, stderr io.Writer) int {
	usage := "usage: tokens mint --ns NS --actor NAME [--grant PATTERN:MODE]... [--ttl 1h] (--token-secret-file F | --token-private-key-file F)"
	if len(args) == 0 || args[0] != "mint" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("tokens mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("ns", server.DefaultNamespace, "the token's namespace")
	actor := fs.String("actor", "", "the token's actor (what ctx.Actor() returns; {actor} in grants)")
	var grants stringsFlag
	fs.Var(&grants, "grant", "PATTERN:MODE the token allows, as list-{actor}-*:rw or board-42:r (repeatable; none: no key)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	secretFile := fs.String("token-secret-file", "", "HS256 secret (the server's --token-secret-file)")
	keyFile := fs.String("token-private-key-file", "", "PEM PKCS #8 Ed25519 or RSA private key (the server holds its public key)")
	kid := fs.String("kid", "", "the key's id in the server's key set (--token-jwks-file)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	key, err := signingKey(*secretFile, *keyFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	tok, err := server.MintTokenKid(key, *kid, *ns, *actor, grants, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func signingKey(secretFile, keyFile string) (any, error) {
	switch {
	case (secretFile == "") == (keyFile == ""):
		return nil, errors.New("tokens mint: give --token-secret-file or --token-private-key-file")
	case secretFile != "":
		k, err := server.LoadTokenKeys(secretFile, "")
		if err != nil {
			return nil, err
		}
		return k.Secret, nil
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("tokens mint: %s holds no PEM PRIVATE KEY (PKCS #8) block", keyFile)
	}
	return x509.ParsePKCS8PrivateKey(blk.Bytes)
}

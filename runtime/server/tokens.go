package server

// End-user tokens: JWTs (github.com/golang-jwt/jwt/v5) that the app's
// backend signs for one actor of one namespace, with grants and an expiry.
// A client presents one where it would present an API key (Authorization,
// hello.auth), and refreshes it on a live connection with the auth message.

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenKeys verify end-user tokens: HS256 with a shared secret, or EdDSA
// (Ed25519) or RS256 with the public key of the signer.
type TokenKeys struct {
	Secret    []byte                      // HS256; at least 32 bytes
	PublicKey crypto.PublicKey            // ed25519.PublicKey or *rsa.PublicKey
	Set       map[string]crypto.PublicKey // by kid (LoadTokenJWKS): the token's kid picks the key
}

// TokenClaims are the claims of an end-user token.
type TokenClaims struct {
	Namespace string   `json:"ns"`
	Grants    []string `json:"grants"` // PATTERN:MODE, {actor} replaced by the subject
	jwt.RegisteredClaims
}

var (
	errTokenExpired  = errors.New("token expired")
	errBadToken      = errors.New("the token is not valid")
	errTokensOff     = errors.New("this server takes no tokens (--token-secret-file or --token-public-key-file)")
	tokenLeeway      = 2 * time.Second // clock skew between the minting backend and the server
	maxTokenLifetime = 7 * 24 * time.Hour
)

// LoadTokenKeys reads the key material of --token-secret-file (the raw
// secret) or --token-public-key-file (a PEM "PUBLIC KEY": Ed25519 or RSA).
func LoadTokenKeys(secretFile, publicKeyFile string) (*TokenKeys, error) {
	switch {
	case secretFile != "" && publicKeyFile != "":
		return nil, errors.New("tokens: give a secret file or a public key file, not both")
	case secretFile != "":
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		secret := []byte(strings.TrimSpace(string(b)))
		if len(secret) < 32 {
			return nil, fmt.Errorf("tokens: the secret in %s is %d bytes; HS256 needs at least 32", secretFile, len(secret))
		}
		return &TokenKeys{Secret: secret}, nil
	case publicKeyFile != "":
		b, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("tokens: %s holds no PEM PUBLIC KEY block", publicKeyFile)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tokens: %s: %w", publicKeyFile, err)
		}
		switch pk := k.(type) {
		case ed25519.PublicKey:
			return &TokenKeys{PublicKey: k}, nil
		case *rsa.PublicKey:
			if pk.N.BitLen() < 2048 {
				return nil, fmt.Errorf("tokens: %s holds an RSA key of %d bits; use 2048 or more", publicKeyFile, pk.N.BitLen())
			}
			return &TokenKeys{PublicKey: k}, nil
		}
		return nil, fmt.Errorf("tokens: %s holds a %T; use Ed25519 (EdDSA) or RSA (RS256)", publicKeyFile, k)
	}
	return nil, nil
}

// verify checks a token and returns its principal and access.
func (k *TokenKeys) verify(tok string, now time.Time) (principal, *access, error) {
	if k == nil {
		return principal{}, nil, errTokensOff
	}
	var c TokenClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		key := k.PublicKey
		if k.Set != nil {
			kid, _ := t.Header["kid"].(string)
			if key = k.Set[kid]; key == nil {
				return nil, fmt.Errorf("no key %q in the key set", kid)
			}
		} else if key == nil {
			key = k.Secret
		}
		if alg := methodOf(key); t.Method.Alg() != alg {
			return nil, fmt.Errorf("signed with %s, but its key is for %s", t.Method.Alg(), alg)
		}
		return key, nil
	}, jwt.WithValidMethods([]string{"HS256", "EdDSA", "RS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return principal{}, nil, errTokenExpired
	case err != nil:
		return principal{}, nil, fmt.Errorf("%w: %v", errBadToken, err)
	}
	if c.Subject == "" || c.Namespace == "" {
		return principal{}, nil, fmt.Errorf("%w: a token names its actor (sub) and namespace (ns)", errBadToken)
	}
	a := &access{grants: []Grant{}, expires: c.ExpiresAt.Time.Add(tokenLeeway), token: true}
	for _, s := range c.Grants {
		g, err := ParseGrant(s, c.Subject)
		if err != nil {
			return principal{}, nil, fmt.Errorf("%w: %v", errBadToken, err)
		}
		a.grants = append(a.grants, g)
	}
	return principal{KeyID: tokenKeyID + c.Subject, Namespace: c.Namespace, Actor: c.Subject, Role: RoleClient, Access: a}, a, nil
}

// methodOf is the JWT algorithm a verification key is for.
func methodOf(key any) string {
	switch key.(type) {
	case ed25519.PublicKey:
		return "EdDSA"
	case *rsa.PublicKey:
		return "RS256"
	}
	return "HS256"
}

// MintToken signs a token for actor of namespace ns with the given grants
// (PATTERN:MODE) and lifetime, with key: a []byte secret (HS256), an
// ed25519.PrivateKey (EdDSA) or an *rsa.PrivateKey (RS256). The app's
// backend does the same with any JWT library; `SERVER tokens mint` uses it
// for development and tests.
func MintToken(key any, ns, actor string, grants []string, ttl time.Duration) (string, error) {
	return MintTokenKid(key, "", ns, actor, grants, ttl)
}

// MintTokenKid is MintToken with a "kid" header naming the key, for a
// server that holds a key set (--token-jwks-file).
func MintTokenKid(key any, kid, ns, actor string, grants []string, ttl time.Duration) (string, error) {
	if ns == "" || actor == "" {
		return "", errors.New("tokens: a token needs a namespace and an actor")
	}
	if ttl <= 0 || ttl > maxTokenLifetime {
		return "", fmt.Errorf("tokens: a lifetime from 1s to %s, not %s", maxTokenLifetime, ttl)
	}
	for _, g := range grants {
		if _, err := ParseGrant(g, actor); err != nil {
			return "", err
		}
	}
	var method jwt.SigningMethod
	switch key.(type) {
	case []byte:
		method = jwt.SigningMethodHS256
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	default:
		return "", fmt.Errorf("tokens: cannot sign with a %T", key)
	}
	now := time.Now()
	c := TokenClaims{Namespace: ns, Grants: grants, RegisteredClaims: jwt.RegisteredClaims{
		Subject: actor, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	if grants == nil {
		c.Grants = []string{}
	}
	t := jwt.NewWithClaims(method, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}

// tokenKeyID prefixes the KeyID of a token's principal.
const tokenKeyID = "token:"

// isToken reports whether a credential is a JWT rather than an API key.
func isToken(s string) bool { return strings.Count(s, ".") == 2 && !strings.HasPrefix(s, "bs_") }

package server

// Token keys from a JSON Web Key Set file (RFC 7517): the public keys of
// the signers, chosen by each token's "kid", so that a backend can rotate
// its keys by publishing the next one first.

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// LoadTokenJWKS reads --token-jwks-file: Ed25519 ("kty":"OKP") and RSA
// ("kty":"RSA") public keys, each with its "kid".
func LoadTokenJWKS(file string) (*TokenKeys, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			Kid string `json:"kid"`
			X   string `json:"x"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("tokens: %s: %w", file, err)
	}
	k := &TokenKeys{Set: map[string]crypto.PublicKey{}}
	for i, jk := range set.Keys {
		if jk.Kid == "" {
			return nil, fmt.Errorf("tokens: %s: key %d has no kid", file, i)
		}
		var pk crypto.PublicKey
		switch {
		case jk.Kty == "OKP" && jk.Crv == "Ed25519":
			x, err := base64.RawURLEncoding.DecodeString(jk.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("tokens: %s: key %q: a bad x", file, jk.Kid)
			}
			pk = ed25519.PublicKey(x)
		case jk.Kty == "RSA":
			n, err1 := base64.RawURLEncoding.DecodeString(jk.N)
			e, err2 := base64.RawURLEncoding.DecodeString(jk.E)
			if err := errors.Join(err1, err2); err != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("tokens: %s: key %q: a bad n or e (RSA keys of 2048 bits or more)", file, jk.Kid)
			}
			pk = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		default:
			return nil, fmt.Errorf("tokens: %s: key %q is %s %s; use Ed25519 (OKP) or RSA", file, jk.Kid, jk.Kty, jk.Crv)
		}
		k.Set[jk.Kid] = pk
	}
	if len(k.Set) == 0 {
		return nil, fmt.Errorf("tokens: %s holds no key", file)
	}
	return k, nil
}

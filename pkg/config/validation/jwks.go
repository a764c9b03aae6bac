package validation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// jwkMembers lists, per key type, the members a JSON Web Key must have (RFC 7518 §6)
// and the member that holds private material.
var jwkMembers = map[string]struct {
	required []string
	private  string // "" for symmetric keys, which are secret as a whole
}{
	"RSA": {required: []string{"n", "e"}, private: "d"},
	"EC":  {required: []string{"crv", "x", "y"}, private: "d"},
	"OKP": {required: []string{"crv", "x"}, private: "d"},
	"oct": {required: []string{"k"}},
}

// jwkCurves are the curves istiod's JWK library accepts, per key type.
var jwkCurves = map[string]map[string]bool{
	"EC":  {"P-256": true, "P-384": true, "P-521": true},
	"OKP": {"Ed25519": true, "X25519": true},
}

// parseJWKS checks an inline JWKS, a key set ({"keys": [...]}) or a single key, the way
// a JWT verifier would load it: each key of a known type with its required members
// base64url-encoded. It returns the indexes of keys that carry private material.
func parseJWKS(s string) (private []int, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return nil, fmt.Errorf("failed to unmarshal JWK set: %v", err)
	}
	keys := []json.RawMessage{json.RawMessage(s)}
	if raw, ok := doc["keys"]; ok {
		if err := json.Unmarshal(raw, &keys); err != nil {
			return nil, fmt.Errorf("failed to unmarshal JWK set: %v", err)
		}
	}
	for i, raw := range keys {
		isPrivate, err := checkJWK(raw)
		if err != nil {
			return private, fmt.Errorf("key %d: %w", i, err)
		}
		if isPrivate {
			private = append(private, i)
		}
	}
	return private, nil
}

func checkJWK(raw json.RawMessage) (private bool, err error) {
	var key map[string]any
	if err := json.Unmarshal(raw, &key); err != nil {
		return false, fmt.Errorf("failed to unmarshal JWK: %v", err)
	}
	kty, _ := key["kty"].(string)
	if kty == "" {
		return false, errors.New(`missing "kty" field`)
	}
	m, ok := jwkMembers[kty]
	if !ok {
		return false, fmt.Errorf("unsupported kty %q", kty)
	}
	for _, name := range m.required {
		v, _ := key[name].(string)
		if v == "" {
			return false, fmt.Errorf("required field %q is missing for %s key", name, kty)
		}
		if name == "crv" {
			if !jwkCurves[kty][v] {
				return false, fmt.Errorf("unsupported curve %q for %s key", v, kty)
			}
			continue
		}
		if _, err := decodeBase64URL(v); err != nil {
			return false, fmt.Errorf("failed to decode field %q: %v", name, err)
		}
	}
	if m.private == "" {
		return true, nil
	}
	_, hasPrivate := key[m.private]
	return hasPrivate, nil
}

// decodeBase64URL decodes base64url as JWKs use it, tolerating padding and the standard
// alphabet as common libraries do.
func decodeBase64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

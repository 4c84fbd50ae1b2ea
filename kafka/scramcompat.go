package kafka

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strings"

	"github.com/logq/logq/auth"
)

// librdkafka before 2.6.1 (kcat and confluent-kafka-python as Debian ships
// them: 2.0.2) sends SCRAM's client-final nonce as client nonce + the
// server's nonce, which already starts with the client nonce
// (confluentinc/librdkafka#4895). Kafka 3.8.1 to 3.9 accept it (the nonce
// must end with the server's); github.com/xdg-go/scram, rightly strict,
// does not. scramCompat verifies exactly that one form of the final
// message itself — r must be the client nonce followed by the server
// nonce this exchange sent, so the server's fresh part is still checked —
// and leaves every other message to xdg-go.
type scramCompat struct {
	mech        auth.Mechanism
	user        string
	authzID     string
	clientNonce string
	firstBare   string // client-first-message-bare
	serverFirst string
	serverNonce string
}

// observeFirst records the client-first message and the server's answer
// (nil when they are not well-formed: xdg-go decides then).
func observeFirst(mech auth.Mechanism, clientFirst, serverFirst string) *scramCompat {
	gs2, bare, ok := cutN(clientFirst, ",", 2)
	if !ok || !strings.HasPrefix(gs2, "n,") {
		return nil
	}
	c := &scramCompat{mech: mech, firstBare: bare, serverFirst: serverFirst}
	if a, ok := strings.CutPrefix(strings.TrimPrefix(gs2, "n,"), "a="); ok {
		c.authzID = a
	}
	for _, f := range strings.Split(bare, ",") {
		if v, ok := strings.CutPrefix(f, "n="); ok {
			c.user = v
		} else if v, ok := strings.CutPrefix(f, "r="); ok {
			c.clientNonce = v
		}
	}
	for _, f := range strings.Split(serverFirst, ",") {
		if v, ok := strings.CutPrefix(f, "r="); ok {
			c.serverNonce = v
		}
	}
	if c.user == "" || c.clientNonce == "" || c.serverNonce == "" {
		return nil
	}
	return c
}

// cutN splits s after the n-th sep.
func cutN(s, sep string, n int) (string, string, bool) {
	i := 0
	for k := 0; k < n; k++ {
		j := strings.Index(s[i:], sep)
		if j < 0 {
			return "", "", false
		}
		i += j + len(sep)
	}
	return s[:i], s[i:], true
}

// legacyFinal reports whether final is librdkafka's doubled-nonce form.
func (c *scramCompat) legacyFinal(final string) bool {
	for _, f := range strings.Split(final, ",") {
		if v, ok := strings.CutPrefix(f, "r="); ok {
			return v == c.clientNonce+c.serverNonce
		}
	}
	return false
}

// verify checks a legacy client-final message against dir's credentials
// and returns the server-final message and the principal.
func (c *scramCompat) verify(dir *auth.Directory, final string) ([]byte, auth.Principal, error) {
	withoutProof, proofField, ok := strings.Cut(final, ",p=")
	if !ok || strings.Contains(proofField, ",") {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	if !strings.HasPrefix(withoutProof, "c=biws,") && !(c.authzID != "" && strings.HasPrefix(withoutProof, "c=")) {
		return nil, auth.Principal{}, auth.ErrBadCredentials // no channel binding
	}
	if c.authzID != "" && c.authzID != c.user {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	proof, err := base64.StdEncoding.DecodeString(proofField)
	if err != nil {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	p, ok := dir.Principal(c.user)
	if !ok {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	cred, ok := p.Credential(c.mech)
	if !ok {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	newHash := sha256.New
	if c.mech == auth.SCRAMSHA512 {
		newHash = sha512.New
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(newHash, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	authMsg := c.firstBare + "," + c.serverFirst + "," + withoutProof
	sig := mac(cred.StoredKey, authMsg)
	if len(proof) != len(sig) {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	clientKey := make([]byte, len(sig))
	for i := range sig {
		clientKey[i] = proof[i] ^ sig[i]
	}
	var h hash.Hash = newHash()
	h.Write(clientKey)
	if subtle.ConstantTimeCompare(h.Sum(nil), cred.StoredKey) != 1 {
		return nil, auth.Principal{}, auth.ErrBadCredentials
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(cred.ServerKey, authMsg))), p, nil
}

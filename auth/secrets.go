package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xdg-go/scram"
)

// Mechanism is a SCRAM mechanism, by its SASL name.
type Mechanism string

// The SCRAM mechanisms a password is stored for.
const (
	SCRAMSHA256 Mechanism = "SCRAM-SHA-256"
	SCRAMSHA512 Mechanism = "SCRAM-SHA-512"
)

// Mechanisms lists the SCRAM mechanisms, sorted.
var Mechanisms = []Mechanism{SCRAMSHA256, SCRAMSHA512}

// DefaultIterations is the PBKDF2 iteration count of new credentials
// (RFC 7677's minimum for SCRAM-SHA-256 is 4096).
const DefaultIterations = 4096

// Credential is one mechanism's stored SCRAM credential (RFC 5802): what a
// server needs to check a password or run a SCRAM conversation, and
// nothing from which the password can be read back short of guessing it.
type Credential struct {
	Mechanism  Mechanism `json:"mechanism"`
	Salt       []byte    `json:"salt"`
	Iterations int       `json:"iterations"`
	StoredKey  []byte    `json:"stored_key"`
	ServerKey  []byte    `json:"server_key"`
}

// Validate checks c's fields.
func (c Credential) Validate() error {
	size := 0
	switch c.Mechanism {
	case SCRAMSHA256:
		size = sha256.Size
	case SCRAMSHA512:
		size = sha512.Size
	default:
		return fmt.Errorf("unknown SCRAM mechanism %q", c.Mechanism)
	}
	if len(c.Salt) < 8 || len(c.Salt) > 64 {
		return fmt.Errorf("SCRAM salt of %d bytes (8..64)", len(c.Salt))
	}
	if c.Iterations < 4096 || c.Iterations > 1<<20 {
		return fmt.Errorf("SCRAM iterations %d outside 4096..%d", c.Iterations, 1<<20)
	}
	if len(c.StoredKey) != size || len(c.ServerKey) != size {
		return fmt.Errorf("SCRAM keys of %s must be %d bytes", c.Mechanism, size)
	}
	return nil
}

func hashFcn(m Mechanism) (scram.HashGeneratorFcn, error) {
	switch m {
	case SCRAMSHA256:
		return scram.SHA256, nil
	case SCRAMSHA512:
		return scram.SHA512, nil
	}
	return nil, fmt.Errorf("unknown SCRAM mechanism %q", m)
}

// Derive computes the credential of password for mech with salt and
// iterations (deterministic: the same inputs give the same credential).
func Derive(mech Mechanism, password string, salt []byte, iterations int) (Credential, error) {
	fcn, err := hashFcn(mech)
	if err != nil {
		return Credential{}, err
	}
	cl, err := fcn.NewClient("", password, "")
	if err != nil {
		return Credential{}, fmt.Errorf("password: %w", err)
	}
	sc, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return Credential{}, err
	}
	return Credential{Mechanism: mech, Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// NewCredentials derives a credential of password for every mechanism,
// each with its own random salt.
func NewCredentials(password string) ([]Credential, error) {
	if password == "" {
		return nil, errors.New("password is empty")
	}
	out := make([]Credential, 0, len(Mechanisms))
	for _, m := range Mechanisms {
		salt := make([]byte, 16)
		rand.Read(salt)
		c, err := Derive(m, password, salt, DefaultIterations)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// NewPassword returns a random password (24 characters, base64url).
func NewPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenPrefix starts every bearer token, so that a token in a log or a
// file is recognisable (and can be scanned for).
const TokenPrefix = "logq_"

// TokenHash is a bearer token as stored: its SHA-256 and an id (the first
// 16 hex digits of the hash) to name it by when listing or revoking.
type TokenHash struct {
	ID   string `json:"id"`
	Hash string `json:"sha256"` // hex
}

// Validate checks t's fields.
func (t TokenHash) Validate() error {
	if len(t.Hash) != 2*sha256.Size {
		return fmt.Errorf("token hash of %d hex digits, want %d", len(t.Hash), 2*sha256.Size)
	}
	if _, err := hex.DecodeString(t.Hash); err != nil || strings.ToLower(t.Hash) != t.Hash {
		return fmt.Errorf("token hash is not lowercase hex")
	}
	if t.ID != t.Hash[:16] {
		return fmt.Errorf("token id %q is not the hash's first 16 digits", t.ID)
	}
	return nil
}

// HashToken returns the stored form of token.
func HashToken(token string) TokenHash {
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	return TokenHash{ID: h[:16], Hash: h}
}

// NewToken returns a new bearer token (TokenPrefix then 32 random bytes,
// base64url) and its stored form. The token itself is shown once and kept
// nowhere.
func NewToken() (string, TokenHash) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok)
}

// Errors of authentication. Both mean 401; neither says which part was
// wrong.
var (
	ErrNoCredentials  = errors.New("no credentials")
	ErrBadCredentials = errors.New("wrong credentials")
)

// Cache remembers passwords already checked, so that HTTP basic auth does
// not run PBKDF2 on every request. It keys on the SHA-256 of name,
// password and stored key together, so a changed password or a deleted
// and re-created principal misses. The zero value is ready; it holds at
// most 4096 entries (then starts over).
type Cache struct {
	mu sync.Mutex
	ok map[[32]byte]struct{}
}

func (c *Cache) key(name, password string, cred Credential) [32]byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(password))
	h.Write([]byte{0})
	h.Write(cred.StoredKey)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *Cache) has(k [32]byte) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ok[k]
	return ok
}

func (c *Cache) add(k [32]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil || len(c.ok) >= 4096 {
		c.ok = map[[32]byte]struct{}{}
	}
	c.ok[k] = struct{}{}
}

// Password checks name's password against its stored SCRAM-SHA-256
// credential (the check of HTTP basic auth and SASL PLAIN).
func Password(d *Directory, name, password string, cache *Cache) (Principal, error) {
	p, ok := d.Principal(name)
	if !ok {
		return Principal{}, ErrBadCredentials
	}
	cred, ok := p.Credential(SCRAMSHA256)
	if !ok {
		if cred, ok = p.Credential(SCRAMSHA512); !ok {
			return Principal{}, ErrBadCredentials
		}
	}
	k := cache.key(name, password, cred)
	if cache.has(k) {
		return p, nil
	}
	got, err := Derive(cred.Mechanism, password, cred.Salt, cred.Iterations)
	if err != nil || subtle.ConstantTimeCompare(got.StoredKey, cred.StoredKey) != 1 {
		return Principal{}, ErrBadCredentials
	}
	cache.add(k)
	return p, nil
}

// Token checks a bearer token.
func Token(d *Directory, token string) (Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return Principal{}, ErrBadCredentials
	}
	p, ok := d.TokenOwner(HashToken(token).Hash)
	if !ok {
		return Principal{}, ErrBadCredentials
	}
	return p, nil
}

// AuthenticateHTTP checks an HTTP Authorization header: "Bearer <token>"
// or "Basic base64(name:password)". An empty header is ErrNoCredentials,
// anything else that does not name a principal ErrBadCredentials.
func AuthenticateHTTP(d *Directory, header string, cache *Cache) (Principal, error) {
	if header == "" {
		return Principal{}, ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(header, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return Token(d, rest)
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Principal{}, ErrBadCredentials
		}
		name, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return Principal{}, ErrBadCredentials
		}
		return Password(d, name, password, cache)
	}
	return Principal{}, ErrBadCredentials
}

// Plain checks a SASL PLAIN message (RFC 4616: authzid NUL authcid NUL
// passwd). An authzid, if given, must equal the authcid.
func Plain(d *Directory, msg []byte, cache *Cache) (Principal, error) {
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 3 || parts[1] == "" {
		return Principal{}, ErrBadCredentials
	}
	if parts[0] != "" && parts[0] != parts[1] {
		return Principal{}, ErrBadCredentials
	}
	return Password(d, parts[1], parts[2], cache)
}

// SCRAM is the server side of one SASL SCRAM exchange (RFC 5802, 7677),
// run by github.com/xdg-go/scram. Feed each client message to Step and
// send back what it returns; when Done, Principal names who logged in
// (or it fails).
type SCRAM struct {
	dir  *Directory
	mech Mechanism
	conv *scram.ServerConversation
}

// NewSCRAM starts a SCRAM exchange for mech against the principals of d.
func NewSCRAM(d *Directory, mech Mechanism) (*SCRAM, error) {
	fcn, err := hashFcn(mech)
	if err != nil {
		return nil, err
	}
	srv, err := fcn.NewServer(func(name string) (scram.StoredCredentials, error) {
		p, ok := d.Principal(name)
		if !ok {
			return scram.StoredCredentials{}, ErrBadCredentials
		}
		c, ok := p.Credential(mech)
		if !ok {
			return scram.StoredCredentials{}, ErrBadCredentials
		}
		return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
	})
	if err != nil {
		return nil, err
	}
	return &SCRAM{dir: d, mech: mech, conv: srv.NewConversation()}, nil
}

// Step takes the client's next message and returns the server's answer.
// An error ends the exchange (wrong password, unknown user, bad message);
// the answer may still carry the "e=" message to send.
func (s *SCRAM) Step(clientMsg []byte) ([]byte, error) {
	out, err := s.conv.Step(string(clientMsg))
	if err != nil {
		return []byte(out), fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	return []byte(out), nil
}

// Done reports whether the exchange is over.
func (s *SCRAM) Done() bool { return s.conv.Done() }

// Principal returns the authenticated principal once the exchange is done
// and valid. An authzid other than the user name is refused.
func (s *SCRAM) Principal() (Principal, error) {
	if !s.conv.Done() || !s.conv.Valid() {
		return Principal{}, ErrBadCredentials
	}
	if z := s.conv.AuthzID(); z != "" && z != s.conv.Username() {
		return Principal{}, ErrBadCredentials
	}
	p, ok := s.dir.Principal(s.conv.Username())
	if !ok {
		return Principal{}, ErrBadCredentials
	}
	return p, nil
}

package webform

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
	"go.uber.org/zap"
)

// CSRF tokens verify themselves, so that any replica sharing the secret
// accepts a form rendered by another one without shared storage. A token
// is the unpadded base64url encoding of
//
//	version (1 byte) | random nonce (16) | expiry, Unix seconds (8, big endian) | HMAC-SHA256 (32)
//
// where the HMAC, keyed with the secret, covers a context label and
// everything before it. fiber's csrf middleware still does the double
// submit (the form field must equal the cookie, compared in constant time)
// and sets the cookie; its Storage is tokenStorage, whose Get verifies
// instead of looking up.
const (
	tokenVersion  = 1
	tokenNonce    = 16
	tokenPayload  = 1 + tokenNonce + 8
	tokenBytes    = tokenPayload + sha256.Size
	tokenMACLabel = "tousu/webform/csrf\x00"
)

var tokenEncoding = base64.RawURLEncoding.Strict()

// csrfTokens mints and verifies CSRF tokens. It is safe for concurrent use
// once built; now is replaced only by tests, before serving.
type csrfTokens struct {
	key []byte
	// lifetime is how long a token verifies after it was minted: twice
	// csrf_expiration (ttl). Page views reuse the browser's token only
	// while it stays valid for more than ttl, that is during its first
	// half, so every rendered form can be sent for csrf_expiration (the
	// cookie's lifetime), and forms open in several tabs share one token
	// unless a page view in between renewed it.
	lifetime time.Duration
	ttl      time.Duration
	now      func() time.Time
}

func newCSRFTokens(key []byte, expiration time.Duration) *csrfTokens {
	return &csrfTokens{key: key, lifetime: 2 * expiration, ttl: expiration, now: time.Now}
}

// mint returns a new token valid for t.lifetime.
func (t *csrfTokens) mint() string {
	b := make([]byte, tokenPayload, tokenBytes)
	b[0] = tokenVersion
	rand.Read(b[1 : 1+tokenNonce])
	binary.BigEndian.PutUint64(b[1+tokenNonce:], uint64(t.now().Add(t.lifetime).Unix()))
	return tokenEncoding.EncodeToString(t.sign(b))
}

// sign appends the MAC of payload to it.
func (t *csrfTokens) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(tokenMACLabel))
	m.Write(payload)
	return m.Sum(payload)
}

// expiry returns when token stops being valid, and false when it is
// malformed or its MAC does not match. It does not look at the clock.
func (t *csrfTokens) expiry(token string) (time.Time, bool) {
	if len(token) != tokenEncoding.EncodedLen(tokenBytes) {
		return time.Time{}, false
	}
	b, err := tokenEncoding.DecodeString(token)
	if err != nil || len(b) != tokenBytes || b[0] != tokenVersion {
		return time.Time{}, false
	}
	want := t.sign(append([]byte(nil), b[:tokenPayload]...))
	if !hmac.Equal(b, want) {
		return time.Time{}, false
	}
	exp := int64(binary.BigEndian.Uint64(b[1+tokenNonce : tokenPayload]))
	return time.Unix(exp, 0), true
}

// valid reports whether token was signed with this key and has not
// expired.
func (t *csrfTokens) valid(token string) bool {
	exp, ok := t.expiry(token)
	return ok && t.now().Before(exp)
}

// reusable reports whether a page may render token again: it stays valid
// for more than t.ttl.
func (t *csrfTokens) reusable(token string) bool {
	exp, ok := t.expiry(token)
	return ok && t.now().Add(t.ttl).Before(exp)
}

// tokenStorage is the fiber.Storage of the csrf middleware. It stores
// nothing: Get answers a non-nil value exactly for a valid token, and
// Set, Delete and Reset do nothing (a token cannot be revoked before it
// expires; the middleware's SingleUseToken is off). Safe for concurrent
// use; it never blocks.
type tokenStorage struct{ tokens *csrfTokens }

var tokenPresent = []byte{1}

func (s tokenStorage) Get(key string) ([]byte, error) {
	if s.tokens.valid(key) {
		return tokenPresent, nil
	}
	return nil, nil
}

func (tokenStorage) Set(string, []byte, time.Duration) error { return nil }
func (tokenStorage) Delete(string) error                     { return nil }
func (tokenStorage) Reset() error                            { return nil }
func (tokenStorage) Close() error                            { return nil }

var _ fiber.Storage = tokenStorage{}

// MinCSRFSecretBytes is the shortest accepted Config.CSRFSecret.
const MinCSRFSecretBytes = 32

// EnvCSRFSecret is the environment variable from which the tousu
// configuration takes webform.csrf_secret.
const EnvCSRFSecret = "TOUSU_WEBFORM_CSRF_SECRET"

// processSecret is a CSRF key made on first use, for Forms without a
// configured secret.
type processSecret struct {
	once sync.Once
	key  []byte
}

// processKey is the key of every Form of this process that has no
// configured secret, so that they accept each other's tokens.
var processKey processSecret

// get returns the key, making it and logging that it did on the first
// call.
func (r *processSecret) get(log *zap.Logger) []byte {
	r.once.Do(func() {
		r.key = make([]byte, sha256.Size)
		rand.Read(r.key)
		log.Info("no csrf_secret configured: CSRF tokens are signed with a random key of this process, so a form validates only on the replica that rendered it; give every replica the same csrf_secret",
			zap.String("env", EnvCSRFSecret))
	})
	return r.key
}

// csrfKey returns the key that signs CSRF tokens: the configured secret,
// or else the random key of the process.
func csrfKey(secret string, log *zap.Logger) []byte {
	if secret != "" {
		return []byte(secret)
	}
	return processKey.get(log)
}

// newCSRF returns the CSRF middleware of f: fiber's double submit with
// self-verifying tokens. On a page view it first drops a cookie token
// that expires too soon to be rendered again, so the middleware mints a
// new one.
func (f *Form) newCSRF() fiber.Handler {
	mw := csrf.New(csrf.Config{
		KeyLookup:      "form:" + fieldCSRF,
		CookieName:     csrfCookieName,
		CookiePath:     "/",
		CookieSecure:   f.cfg.CookieSecure,
		CookieHTTPOnly: true,
		CookieSameSite: "Lax",
		Expiration:     f.cfg.CSRFExpiration,
		ContextKey:     csrfContextKey,
		KeyGenerator:   f.tokens.mint,
		Storage:        tokenStorage{f.tokens},
		ErrorHandler:   f.csrfFailed,
	})
	return func(c *fiber.Ctx) error {
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead:
			if tok := c.Cookies(csrfCookieName); tok != "" && !f.tokens.reusable(tok) {
				c.Request().Header.DelCookie(csrfCookieName)
			}
		}
		return mw(c)
	}
}

package webform

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CSRF tokens verify themselves, so that any replica sharing the secret
// accepts a form rendered by another one without shared storage. A token
// is the unpadded base64url encoding of
//
//	version (1 byte) | random nonce (16) | expiry, Unix seconds (8, big endian) | HMAC-SHA256 (32)
//
// where the HMAC, keyed with the secret, covers a context label and
// everything before it. A post must carry the token of its cookie in the
// form field (double submit, compared in constant time).
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

// Form nonces bind a rendered form to its CSRF token: a nonce is
//
//	random (16) | HMAC-SHA256(key, label | token | random), first 16 bytes
//
// in hex. The envelope id of a submission derives from its nonce, so a
// form sent twice is one complaint, and a client cannot make up nonces to
// turn one token into many complaints: each needs a rendered form.
const (
	nonceRandom   = 16
	nonceMAC      = 16
	nonceMACLabel = "tousu/webform/nonce\x00"
)

// nonce returns a new form nonce bound to token.
func (t *csrfTokens) nonce(token string) string {
	b := make([]byte, nonceRandom, nonceRandom+sha256.Size)
	rand.Read(b)
	return hex.EncodeToString(t.nonceMAC(token, b)[:nonceRandom+nonceMAC])
}

// nonceMAC appends the MAC binding random to token.
func (t *csrfTokens) nonceMAC(token string, random []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(nonceMACLabel))
	m.Write([]byte(token))
	m.Write(random)
	return m.Sum(random)
}

// validNonce reports whether nonce was made by nonce(token).
func (t *csrfTokens) validNonce(token, nonce string) bool {
	b, err := hex.DecodeString(nonce)
	if err != nil || len(b) != nonceRandom+nonceMAC {
		return false
	}
	want := t.nonceMAC(token, append([]byte(nil), b[:nonceRandom]...))
	return hmac.Equal(b, want[:nonceRandom+nonceMAC])
}

// MinCSRFSecretBytes is the shortest accepted Config.CSRFSecret.
const MinCSRFSecretBytes = 32

// EnvCSRFSecret is the environment variable from which the tousu
// configuration takes webform.csrf_secret.
const EnvCSRFSecret = "TOUSU_WEBFORM_CSRF_SECRET"

// csrf is the CSRF middleware of the pages. On a page view it puts the
// browser's token (or, when that expires too soon to be rendered again, a
// new one) into the page and the cookie; on a post it runs checkCSRF with
// the form field. POST /complaints, which reads its body as a stream,
// calls checkCSRF itself.
func (f *Form) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead:
		token := c.Cookies(csrfCookieName)
		if !f.tokens.reusable(token) {
			token = f.tokens.mint()
		}
		f.issue(c, token)
		return c.Next()
	}
	if err := f.checkCSRF(c, c.FormValue(fieldCSRF)); err != nil {
		return f.csrfFailed(c, err)
	}
	return c.Next()
}

// issue puts token into the browser's cookie and into the page about to
// be rendered.
func (f *Form) issue(c *fiber.Ctx, token string) {
	c.Cookie(&fiber.Cookie{
		Name:     csrfCookieName,
		Value:    token,
		Path:     "/",
		Expires:  f.tokens.now().Add(f.cfg.CSRFExpiration),
		Secure:   f.cfg.CookieSecure || c.Protocol() == "https",
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
	c.Locals(csrfContextKey, token)
}

// checkCSRF admits a post that comes from this site and carries, in the
// form field token, the valid token of its cookie (double submit).
func (f *Form) checkCSRF(c *fiber.Ctx, token string) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	cookie := c.Cookies(csrfCookieName)
	switch {
	case cookie == "" || token == "":
		return errors.New("csrf token or cookie missing")
	case subtle.ConstantTimeCompare([]byte(cookie), []byte(token)) != 1:
		return errors.New("csrf token does not match the cookie")
	case !f.tokens.valid(token):
		return errors.New("csrf token invalid or expired")
	}
	c.Locals(csrfContextKey, strings.Clone(token))
	return nil
}

// errCrossSite is checkCSRF's error for a post a browser says another
// site's page sent.
var errCrossSite = errors.New("posted from another site")

// sameOrigin refuses a request a browser says comes from another site:
// Sec-Fetch-Site other than same-origin or none (typed or bookmarked), or
// an Origin (failing that, a Referer) naming another host than the
// request's. Requests with neither, from old browsers and curl, pass; the
// token decides.
func sameOrigin(c *fiber.Ctx) error {
	switch site := c.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("%w: Sec-Fetch-Site is %q", errCrossSite, site)
	}
	from := c.Get(fiber.HeaderOrigin)
	if from == "" {
		from = c.Get(fiber.HeaderReferer)
	}
	if from == "" {
		return nil
	}
	u, err := url.Parse(from)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, c.Hostname()) {
		return fmt.Errorf("%w: from %q to host %q", errCrossSite, from, c.Hostname())
	}
	return nil
}

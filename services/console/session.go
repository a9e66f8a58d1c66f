package console

// This file is the console's sessions: the signed session cookie, the
// middleware that admits a page's request (RequirePage), and the CSRF
// token every form posts back (CSRFToken, CheckCSRF).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
)

// SessionConfig configures the console's sign-in sessions and the
// lock-out after failed sign-ins.
type SessionConfig struct {
	// CookieSecure marks the session cookie Secure on every answer;
	// without it the cookie is Secure on answers to HTTPS requests only,
	// so that a console on plain HTTP (development, the embedded
	// installation on 127.0.0.1) can be signed in to.
	CookieSecure bool `yaml:"cookie_secure"`
	// IdleTimeout ends a session not used for this long (default 30m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after sign-in, however much
	// it is used (default 12h).
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
	// MaxAccountFailures failed sign-ins to one account name within
	// LockWindow lock that name (default 5).
	MaxAccountFailures int `yaml:"max_account_failures"`
	// MaxClientFailures failed sign-ins from one client address within
	// LockWindow lock that address (default 20).
	MaxClientFailures int `yaml:"max_client_failures"`
	// LockWindow is how far back failures count, and so how long a lock
	// lasts at most (default 15m).
	LockWindow time.Duration `yaml:"lock_window"`
}

// Defaults of SessionConfig.
const (
	DefaultIdleTimeout        = 30 * time.Minute
	DefaultAbsoluteTimeout    = 12 * time.Hour
	DefaultMaxAccountFailures = 5
	DefaultMaxClientFailures  = 20
	DefaultLockWindow         = 15 * time.Minute
)

// Provision fills every zero field with its default. It opens nothing.
func (c *SessionConfig) Provision() {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.AbsoluteTimeout == 0 {
		c.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if c.MaxAccountFailures == 0 {
		c.MaxAccountFailures = DefaultMaxAccountFailures
	}
	if c.MaxClientFailures == 0 {
		c.MaxClientFailures = DefaultMaxClientFailures
	}
	if c.LockWindow == 0 {
		c.LockWindow = DefaultLockWindow
	}
}

// Validate checks the configuration and reports every problem by its key.
// It changes nothing.
func (c SessionConfig) Validate() error {
	var errs []error
	if c.IdleTimeout < 0 {
		errs = append(errs, errors.New("idle_timeout: must not be negative"))
	}
	if c.AbsoluteTimeout < 0 || c.AbsoluteTimeout != 0 && c.AbsoluteTimeout < c.IdleTimeout {
		errs = append(errs, errors.New("absolute_timeout: must not be negative nor shorter than idle_timeout"))
	}
	if c.MaxAccountFailures < 0 {
		errs = append(errs, errors.New("max_account_failures: must not be negative"))
	}
	if c.MaxClientFailures < 0 {
		errs = append(errs, errors.New("max_client_failures: must not be negative"))
	}
	if c.LockWindow < 0 {
		errs = append(errs, errors.New("lock_window: must not be negative"))
	}
	return errors.Join(errs...)
}

// AccountStore is where the console finds and changes accounts (an
// *accounts.Store).
type AccountStore interface {
	Get(name string) (accounts.Account, bool)
	Update(ctx context.Context, name string, change func(accounts.Account) (accounts.Account, error)) (accounts.Account, error)
}

// Cookie names and form fields.
const (
	// SessionCookie holds the signed session.
	SessionCookie = "tousu_session"
	// preSessionCookie binds the sign-in form's CSRF token to the browser
	// before there is a session.
	preSessionCookie = "tousu_presession"
	// CSRFField is the form field every form posts its CSRF token in.
	CSRFField = "_csrf"
	// CSRFHeader carries the CSRF token of API requests that change
	// something and are authenticated by the session cookie.
	CSRFHeader = "X-CSRF-Token"
)

// base64URL encodes cookies and tokens.
var base64URL = base64.RawURLEncoding

// refreshAfter is how old a session's last-seen time gets before an
// answer carries the cookie again with the new time (sliding expiry).
const refreshAfter = time.Minute

// Sessions signs people in and admits their requests. Everything a
// session needs is in its signed cookie and the shared accounts, so any
// console replica with the same server secret accepts it. It is safe for
// concurrent use.
type Sessions struct {
	cfg      SessionConfig
	key      []byte
	accounts AccountStore
	auth     *httpapi.Authenticator
	ledger   webform.Ledger
	tpl      *Templates
	logger   *zap.Logger
	now      func() time.Time
}

// NewSessions returns the sessions of the console: cfg provisioned, key
// the server key derived for "session", accts the shared accounts,
// ledger the shared memory of failed sign-ins (ledger.Ledger), auth the
// API's authenticator, which it makes accept the session cookie too.
func NewSessions(cfg SessionConfig, key []byte, accts AccountStore, ledger webform.Ledger, auth *httpapi.Authenticator, tpl *Templates, logger *zap.Logger) *Sessions {
	s := &Sessions{cfg: cfg, key: key, accounts: accts, auth: auth, ledger: ledger, tpl: tpl, logger: logger, now: time.Now}
	auth.AcceptSessions(s.apiPrincipal)
	return s
}

// session is what the cookie holds.
type session struct {
	Name   string
	Issued time.Time
	Seen   time.Time
	// Nonce is random per sign-in; the CSRF token is bound to it.
	Nonce string
}

// encodeSession returns the cookie value of ss signed with key:
// base64url(payload) "." base64url(HMAC-SHA256(payload)).
func encodeSession(key []byte, ss session) string {
	payload := fmt.Sprintf("1|%s|%d|%d|%s", ss.Name, ss.Issued.UnixNano(), ss.Seen.UnixNano(), ss.Nonce)
	return base64URL.EncodeToString([]byte(payload)) + "." + base64URL.EncodeToString(mac(key, payload))
}

// decodeSession returns the session of a cookie value, or false when it
// is not one signed with key.
func decodeSession(key []byte, value string) (session, bool) {
	p64, m64, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, false
	}
	payload, err1 := base64URL.DecodeString(p64)
	sum, err2 := base64URL.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, mac(key, string(payload))) {
		return session{}, false
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 5 || f[0] != "1" {
		return session{}, false
	}
	issued, err1 := strconv.ParseInt(f[2], 10, 64)
	seen, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return session{}, false
	}
	return session{Name: f[1], Issued: time.Unix(0, issued), Seen: time.Unix(0, seen), Nonce: f[4]}, true
}

func mac(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// Reasons a session is refused, for the log.
var (
	errNoAccount       = errors.New("no such account")
	errDisabled        = errors.New("account disabled")
	errIdle            = errors.New("idle too long")
	errTooOld          = errors.New("past its absolute expiry")
	errPasswordChanged = errors.New("issued before the password was last changed")
)

// checkSession decides whether ss is still valid at now for the account
// it names (found tells whether there is one): nil, or why not.
func checkSession(ss session, acc accounts.Account, found bool, now time.Time, cfg SessionConfig) error {
	switch {
	case !found:
		return errNoAccount
	case acc.Disabled:
		return errDisabled
	case now.Sub(ss.Seen) >= cfg.IdleTimeout:
		return errIdle
	case now.Sub(ss.Issued) >= cfg.AbsoluteTimeout:
		return errTooOld
	case ss.Issued.Before(acc.PasswordChangedAt):
		return errPasswordChanged
	}
	return nil
}

// Locals of a request admitted by a session.
const (
	localCSRF    = "tousu.console.csrf"
	localAccount = "tousu.console.account"
)

// admit returns the account of the request's valid session, refreshing
// the cookie when its last-seen time is old, and records the request's
// principal and CSRF token.
func (s *Sessions) admit(c *fiber.Ctx) (accounts.Account, bool) {
	value := c.Cookies(SessionCookie)
	if value == "" {
		return accounts.Account{}, false
	}
	ss, ok := decodeSession(s.key, value)
	if !ok {
		s.logger.Info("session cookie refused: bad signature", zap.String("remote_addr", c.IP()))
		s.clearCookie(c, SessionCookie)
		return accounts.Account{}, false
	}
	now := s.now()
	acc, found := s.accounts.Get(ss.Name)
	if err := checkSession(ss, acc, found, now, s.cfg); err != nil {
		s.logger.Info("session refused", zap.String("account", ss.Name), zap.Error(err))
		s.clearCookie(c, SessionCookie)
		return accounts.Account{}, false
	}
	if now.Sub(ss.Seen) >= refreshAfter {
		ss.Seen = now
		s.setCookie(c, ss)
	}
	httpapi.SetPrincipal(c, httpapi.AccountPrincipal(acc))
	c.Locals(localCSRF, s.csrfToken("session|"+ss.Name+"|"+ss.Nonce))
	c.Locals(localAccount, acc)
	return acc, true
}

// apiPrincipal admits an API request by its session cookie (see
// httpapi.Authenticator.AcceptSessions): a request that changes
// something must carry the session's CSRF token in CSRFHeader, and an
// account that must change its password first is not admitted.
func (s *Sessions) apiPrincipal(c *fiber.Ctx) (httpapi.Principal, bool) {
	acc, ok := s.admit(c)
	if !ok || acc.MustChangePassword {
		return httpapi.Principal{}, false
	}
	if !safeMethod(c.Method()) && !s.csrfMatches(c, c.Get(CSRFHeader)) {
		return httpapi.Principal{}, false
	}
	return httpapi.PrincipalOf(c), true
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// RequirePage returns middleware that admits a page's request with a
// valid session, or a valid bearer token (403 for a token whose role does
// not use the console, Role.UsesConsole); without either it answers 303
// to the sign-in page with next= the page asked for, and an account that
// must change its password 303 to the password page.
func (s *Sessions) RequirePage() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Get(fiber.HeaderAuthorization) != "" {
			if p, ok := s.auth.Bearer(c); ok {
				if !p.Role.UsesConsole() {
					return s.tpl.Render(c, fiber.StatusForbidden, "notice", Page{Title: "无权访问",
						Data: message{Text: "该令牌只用于提交投诉或读取监控数据，不能使用坐席控制台。", Code: "forbidden"}})
				}
				httpapi.SetPrincipal(c, p)
				return c.Next()
			}
		}
		acc, ok := s.admit(c)
		if !ok {
			return c.Redirect(Path+"/signin?next="+url.QueryEscape(string(c.Request().RequestURI())), fiber.StatusSeeOther)
		}
		if acc.MustChangePassword && c.Path() != Path+"/password" {
			return c.Redirect(Path+"/password", fiber.StatusSeeOther)
		}
		return c.Next()
	}
}

// CheckCSRF returns middleware for the pages' forms: a POST admitted by a
// session must carry the session's CSRF token in the CSRFField form field
// (or the CSRFHeader header), else it is answered 403. Requests admitted
// by a bearer token carry no ambient credentials and need none.
func (s *Sessions) CheckCSRF() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if safeMethod(c.Method()) || c.Locals(localCSRF) == nil {
			return c.Next()
		}
		token := c.FormValue(CSRFField)
		if token == "" {
			token = c.Get(CSRFHeader)
		}
		if !s.csrfMatches(c, token) {
			return s.csrfRefused(c)
		}
		return c.Next()
	}
}

// csrfRefused answers a form posted without its CSRF token: 403.
func (s *Sessions) csrfRefused(c *fiber.Ctx) error {
	s.logger.Info("form refused: CSRF token missing or wrong", zap.String("path", c.Path()), zap.String("remote_addr", c.IP()))
	return s.tpl.Render(c, fiber.StatusForbidden, "notice", Page{Title: "页面已过期", User: httpapi.PrincipalOf(c), CSRF: CSRFToken(c),
		Data: message{Text: "页面已过期或表单无效，请返回上一页刷新后重试。", Code: "csrf"}})
}

// CSRFToken returns the CSRF token the forms of the request's page post
// back in CSRFField: bound to the session (or, on the sign-in page, to
// the browser); "" when there is none.
func CSRFToken(c *fiber.Ctx) string {
	t, _ := c.Locals(localCSRF).(string)
	return t
}

// csrfToken signs what a CSRF token is bound to.
func (s *Sessions) csrfToken(boundTo string) string {
	return base64URL.EncodeToString(mac(s.key, "csrf|"+boundTo))
}

// csrfMatches reports whether token is the request's CSRF token.
func (s *Sessions) csrfMatches(c *fiber.Ctx, token string) bool {
	want := CSRFToken(c)
	return want != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// start signs acc in: a new session cookie issued now.
func (s *Sessions) start(c *fiber.Ctx, acc accounts.Account) {
	now := s.now()
	s.setCookie(c, session{Name: acc.Name, Issued: now, Seen: now, Nonce: nonce()})
}

// setCookie writes ss as the session cookie. It lives as long as the
// browser runs; the expiry is in the signed session.
func (s *Sessions) setCookie(c *fiber.Ctx, ss session) {
	c.Cookie(&fiber.Cookie{Name: SessionCookie, Value: encodeSession(s.key, ss), Path: "/", HTTPOnly: true,
		Secure: s.secure(c), SameSite: fiber.CookieSameSiteLaxMode})
}

// clearCookie removes a cookie of the console.
func (s *Sessions) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", HTTPOnly: true, Secure: s.secure(c),
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Unix(1, 0), MaxAge: -1})
}

func (s *Sessions) secure(c *fiber.Ctx) bool { return s.cfg.CookieSecure || c.Protocol() == "https" }

// nonce returns 16 random bytes in base64url.
func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64URL.EncodeToString(b)
}

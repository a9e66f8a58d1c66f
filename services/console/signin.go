package console

// This file is signing in and out and changing one's password:
// /console/signin, /console/signout and /console/password.

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
	"golang.org/x/text/width"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
)

// Paths of signing in and out.
const (
	PathSignIn   = Path + "/signin"
	PathSignOut  = Path + "/signout"
	PathPassword = Path + "/password"
)

// message is the data of a page that only says something.
type message struct {
	// Text is the message in Chinese; Code a stable machine-readable
	// reason beside it.
	Text, Code string
}

// signInForm is the data of the sign-in page.
type signInForm struct {
	Name, Next string
	// Error is the reason the last try failed, in Chinese; Code beside it.
	Error, Code string
}

// passwordForm is the data of the password page.
type passwordForm struct {
	// Required tells that the password must be changed before anything
	// else.
	Required    bool
	Error, Code string
}

// Mount registers the sign-in, sign-out and password pages. The other
// pages are mounted behind RequirePage and CheckCSRF.
func (s *Sessions) Mount(app fiber.Router) {
	app.Get(PathSignIn, s.signInPage)
	app.Post(PathSignIn, s.signIn)
	app.Post(PathSignOut, s.signOut)
	app.Get(PathPassword, s.RequirePage(), s.passwordPage)
	app.Post(PathPassword, s.RequirePage(), s.CheckCSRF(), s.changePassword)
}

// LocalNext returns next when it is a path of the console on this site,
// else the console's start page: sign-in redirects nowhere else.
func LocalNext(next string) string {
	u, err := url.Parse(next)
	switch {
	case err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "":
		return Path + "/"
	case strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//"):
		return Path + "/"
	case u.Path != Path && !strings.HasPrefix(u.Path, Path+"/") || strings.Contains(u.Path, "/.."):
		return Path + "/"
	case u.Path == PathSignIn || u.Path == PathSignOut:
		return Path + "/"
	}
	return next
}

// SignInName is the account name someone typed, as accounts spell names:
// full-width letters (an input method left on Chinese) narrowed,
// lower-cased, without the spaces around it.
func SignInName(typed string) string {
	return strings.ToLower(strings.TrimSpace(width.Narrow.String(typed)))
}

// preSession binds the sign-in form's CSRF token to the browser: a random
// cookie, set when missing.
func (s *Sessions) preSession(c *fiber.Ctx) string {
	v := c.Cookies(preSessionCookie)
	if v == "" {
		v = nonce()
		c.Cookie(&fiber.Cookie{Name: preSessionCookie, Value: v, Path: PathSignIn, HTTPOnly: true, Secure: s.secure(c), SameSite: fiber.CookieSameSiteLaxMode})
	}
	c.Locals(localCSRF, s.csrfToken("signin|"+v))
	return v
}

// signInPage shows the sign-in form; someone signed in goes on at once.
func (s *Sessions) signInPage(c *fiber.Ctx) error {
	next := LocalNext(c.Query("next"))
	if acc, ok := s.admit(c); ok && !acc.MustChangePassword {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	s.preSession(c)
	return s.renderSignIn(c, fiber.StatusOK, signInForm{Next: next})
}

func (s *Sessions) renderSignIn(c *fiber.Ctx, status int, f signInForm) error {
	return s.tpl.Render(c, status, "signin", Page{Title: "登录", CSRF: CSRFToken(c), Data: f})
}

// signInFailed is the one message of every failed sign-in: it does not
// tell whether the name exists.
const signInFailed = "账号或密码不正确"

// signIn checks a sign-in: the form's CSRF token, the locks of the name
// and of the client, then the password. Every failure is recorded in the
// shared ledger.
func (s *Sessions) signIn(c *fiber.Ctx) error {
	s.preSession(c)
	name := SignInName(c.FormValue("name"))
	f := signInForm{Name: name, Next: LocalNext(c.FormValue("next"))}
	if !s.csrfMatches(c, c.FormValue(CSRFField)) {
		f.Error, f.Code = "页面已过期，请重新登录。", "csrf"
		return s.renderSignIn(c, fiber.StatusForbidden, f)
	}
	accountKey, clientKey := "signin:account:"+name, "signin:client:"+c.IP()
	now := s.now()
	wait, locked := webform.LockedFor(s.ledger.Entries(accountKey), now, s.cfg.MaxAccountFailures, s.cfg.LockWindow)
	if w, l := webform.LockedFor(s.ledger.Entries(clientKey), now, s.cfg.MaxClientFailures, s.cfg.LockWindow); l {
		wait, locked = max(wait, w), true
	}
	if locked {
		s.logger.Info("sign-in refused: locked", zap.String("account", name), zap.String("remote_addr", c.IP()))
		minutes := int((wait + time.Minute - 1) / time.Minute)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		f.Error, f.Code = "登录失败次数过多，已暂时锁定，请 "+strconv.Itoa(minutes)+" 分钟后再试。", "locked"
		return s.renderSignIn(c, fiber.StatusTooManyRequests, f)
	}
	acc, ok := s.verify(name, c.FormValue("password"))
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	if !ok {
		s.logger.Info("sign-in failed", zap.String("account", name), zap.String("remote_addr", c.IP()))
		if err := errors.Join(s.ledger.Append(ctx, accountKey, []byte(webform.LockTried)), s.ledger.Append(ctx, clientKey, []byte(webform.LockTried))); err != nil {
			s.logger.Error("could not record a failed sign-in", zap.Error(err))
		}
		f.Error, f.Code = signInFailed, "signin_failed"
		return s.renderSignIn(c, fiber.StatusUnauthorized, f)
	}
	if err := s.ledger.Append(ctx, accountKey, []byte(webform.LockForgive)); err != nil {
		s.logger.Error("could not record a sign-in", zap.Error(err))
	}
	s.logger.Info("signed in", zap.String("account", name), zap.String("remote_addr", c.IP()))
	s.start(c, acc)
	if acc.MustChangePassword {
		return c.Redirect(PathPassword, fiber.StatusSeeOther)
	}
	return c.Redirect(f.Next, fiber.StatusSeeOther)
}

// dummyHash is verified against when the name is no account, so that a
// failure takes as long either way.
var dummyHash, _ = accounts.HashPassword("tousu-no-such-account-0")

// verify returns the enabled account name whose password is password.
func (s *Sessions) verify(name, password string) (accounts.Account, bool) {
	acc, found := s.accounts.Get(name)
	hash := acc.PasswordHash
	if !found {
		hash = dummyHash
	}
	ok, err := accounts.VerifyPassword(hash, password)
	if err != nil {
		s.logger.Error("could not verify a password", zap.String("account", name), zap.Error(err))
	}
	return acc, found && ok && err == nil && !acc.Disabled
}

// signOut ends the session: the cookie is cleared. It needs the
// session's CSRF token, so that another site cannot sign someone out.
func (s *Sessions) signOut(c *fiber.Ctx) error {
	if _, ok := s.admit(c); ok && !s.csrfMatches(c, c.FormValue(CSRFField)) {
		return s.csrfRefused(c)
	}
	s.clearCookie(c, SessionCookie)
	return c.Redirect(PathSignIn, fiber.StatusSeeOther)
}

// passwordPage shows the form to change one's password.
func (s *Sessions) passwordPage(c *fiber.Ctx) error {
	return s.renderPassword(c, fiber.StatusOK, passwordForm{})
}

func (s *Sessions) renderPassword(c *fiber.Ctx, status int, f passwordForm) error {
	acc, _ := c.Locals(localAccount).(accounts.Account)
	f.Required = acc.MustChangePassword
	return s.tpl.Render(c, status, "password", Page{Title: "修改密码", User: httpapi.PrincipalOf(c), CSRF: CSRFToken(c), Data: f})
}

// changePassword sets the signed-in account's password: the old one, and
// the new one twice, by the accounts' rules. The session goes on with a
// new cookie: the change ends every session started before it.
func (s *Sessions) changePassword(c *fiber.Ctx) error {
	acc, ok := c.Locals(localAccount).(accounts.Account)
	if !ok {
		return s.renderPassword(c, fiber.StatusForbidden, passwordForm{Error: "只有登录的账号才能在此修改密码。", Code: "no_session"})
	}
	newPassword := c.FormValue("new")
	switch ok, _ := accounts.VerifyPassword(acc.PasswordHash, c.FormValue("old")); {
	case !ok:
		return s.renderPassword(c, fiber.StatusUnprocessableEntity, passwordForm{Error: "原密码不正确。", Code: "old_password_wrong"})
	case newPassword != c.FormValue("again"):
		return s.renderPassword(c, fiber.StatusUnprocessableEntity, passwordForm{Error: "两次输入的新密码不一致。", Code: "password_mismatch"})
	case newPassword == c.FormValue("old"):
		return s.renderPassword(c, fiber.StatusUnprocessableEntity, passwordForm{Error: "新密码不能与原密码相同。", Code: "password_unchanged"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	updated, err := s.accounts.Update(ctx, acc.Name, func(cur accounts.Account) (accounts.Account, error) {
		return accounts.Apply(cur, accounts.Patch{Password: &newPassword}, cur.Name, s.now())
	})
	if fe, ok := accounts.IsFieldError(err); ok {
		return s.renderPassword(c, fiber.StatusUnprocessableEntity, passwordForm{Error: fe.Message, Code: fe.Code})
	}
	if err != nil {
		s.logger.Error("could not change a password", zap.String("account", acc.Name), zap.Error(err))
		return s.renderPassword(c, fiber.StatusServiceUnavailable, passwordForm{Error: "暂时无法保存新密码，请稍后再试。", Code: "unavailable"})
	}
	s.logger.Info("password changed", zap.String("account", acc.Name))
	s.start(c, updated)
	return c.Redirect(Path+"/", fiber.StatusSeeOther)
}

package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/keyauth"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/accounts"
)

// Role is what a token's holder may do.
type Role string

// The roles of API tokens.
const (
	// RoleAdmin may do everything and sees customers' contact data in full.
	RoleAdmin Role = "admin"
	// RoleSupervisor searches cases and sees contact data in full.
	RoleSupervisor Role = "supervisor"
	// RoleAgent searches cases; phone numbers are masked.
	RoleAgent Role = "agent"
	// RoleIntake may only submit complaints (partner systems, kiosks).
	RoleIntake Role = "intake"
	// RoleOps is an operations account signed in to the console, or the
	// token of an operations tool (tousu dlq): it sees how the
	// installation runs, reads dead letters in full and replays them, and
	// sees no case.
	RoleOps Role = "ops"
	// RoleMonitor is a monitoring system's token (Prometheus): it reads the
	// metrics and the ops API's figures (dead letters masked) and nothing
	// else: no case, no console page, no change.
	RoleMonitor Role = "monitor"
)

// SeesContacts reports whether the role may see phone numbers unmasked.
func (r Role) SeesContacts() bool { return r == RoleAdmin || r == RoleSupervisor }

// WatchesOps reports whether the role may see how the installation runs:
// the metrics, the readiness details and the consumer lag.
func (r Role) WatchesOps() bool {
	return r == RoleAdmin || r == RoleSupervisor || r == RoleOps || r == RoleMonitor
}

// MaySearch reports whether the role may read cases.
func (r Role) MaySearch() bool { return r == RoleAdmin || r == RoleSupervisor || r == RoleAgent }

// Token is one API token. The token itself comes from Token or, better,
// from TokenFile so it stays out of the configuration file.
type Token struct {
	Name  string        `yaml:"name"`
	Token secret.Secret `yaml:"token"`
	// TokenFile names a file holding the token; Provision folds it into
	// Token.
	TokenFile string `yaml:"token_file,omitempty"`
	Role      Role   `yaml:"role"`
}

// AuthConfig lists the API tokens.
type AuthConfig struct {
	Tokens []Token `yaml:"tokens"`
}

// MinTokenLength is the shortest token accepted.
const MinTokenLength = 16

// Provision folds each token_file into its Token. It reads nothing.
func (c *AuthConfig) Provision() {
	for i := range c.Tokens {
		c.Tokens[i].Token.Fold(&c.Tokens[i].TokenFile, nil)
	}
}

// ResolveSecrets reads the tokens given in files (relative to dir) or in
// environment variables (through lookupEnv), reporting every one that
// cannot be read by its key.
func (c *AuthConfig) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	var errs []error
	for i := range c.Tokens {
		errs = append(errs, c.Tokens[i].Token.ResolveAt(fmt.Sprintf("tokens[%d]", i), "token", dir, lookupEnv))
	}
	return errors.Join(errs...)
}

// Validate checks the tokens: names set and unique, known roles, and
// tokens of at least MinTokenLength characters (where they were read). It
// changes nothing; errors name the key, never a token.
func (c AuthConfig) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, t := range c.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" || names[t.Name] {
			errs = append(errs, fmt.Errorf("%s.name: must be set and unique", p))
		}
		names[t.Name] = true
		switch t.Role {
		case RoleAdmin, RoleSupervisor, RoleAgent, RoleIntake, RoleOps, RoleMonitor:
		default:
			errs = append(errs, fmt.Errorf("%s.role: %q is not one of admin, supervisor, agent, intake, ops, monitor", p, t.Role))
		}
		if err := t.Token.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s.token: %w", p, err))
		}
		if !t.Token.IsSet() || t.Token.Known() && len(t.Token.Reveal()) < MinTokenLength {
			errs = append(errs, fmt.Errorf("%s.token: must have at least %d characters", p, MinTokenLength))
		}
	}
	return errors.Join(errs...)
}

// Authenticator checks bearer tokens and, once the console's sessions are
// installed (AcceptSessions), session cookies. A token whose name is an
// account (UseAccounts) is that account's: it gets the account's
// departments and stops working when the account is disabled; a token
// whose name is no account is a service token with its configured role
// and every department. It is safe for concurrent use once set up.
type Authenticator struct {
	tokens   []hashedToken
	accounts AccountLookup
	session  func(c *fiber.Ctx) (Principal, bool)
}

// AccountLookup finds an account by name (an *accounts.Store).
type AccountLookup interface {
	Get(name string) (accounts.Account, bool)
}

// UseAccounts makes tokens named after an account that account's (see
// Authenticator). Call it before serving.
func (a *Authenticator) UseAccounts(l AccountLookup) { a.accounts = l }

// AcceptSessions makes Require admit, when a request has no
// Authorization header, the principal session returns (the console's
// session cookie). Call it before serving.
func (a *Authenticator) AcceptSessions(session func(c *fiber.Ctx) (Principal, bool)) {
	a.session = session
}

// AccountPrincipal is the principal of a signed-in account: its name and
// role, and its departments if it is an agent's (nil, every department,
// for the other roles).
func AccountPrincipal(acc accounts.Account) Principal {
	p := Principal{Name: acc.Name, Role: Role(acc.Role)}
	if acc.Role == accounts.RoleAgent {
		p.Departments = slices.Clone(acc.Departments)
		if p.Departments == nil {
			p.Departments = []string{}
		}
	}
	return p
}

type hashedToken struct {
	sum  [32]byte
	name string
	role Role
}

// NewAuthenticator returns an authenticator for provisioned, resolved and
// validated tokens.
func NewAuthenticator(cfg AuthConfig) *Authenticator {
	a := &Authenticator{}
	for _, t := range cfg.Tokens {
		a.tokens = append(a.tokens, hashedToken{sha256.Sum256([]byte(t.Token.Reveal())), t.Name, t.Role})
	}
	return a
}

// Principal is who presented a token.
type Principal struct {
	Name string
	Role Role
	// Departments are the departments whose cases an agent works (see
	// MaySee); nil for every department: supervisors, admins, and tokens
	// whose name is no account.
	Departments []string
}

// Check returns the principal a token belongs to. Every configured token is
// compared in constant time, so timing tells nothing about which matched.
// A token named after a disabled account is refused.
func (a *Authenticator) Check(token string) (Principal, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Principal
	ok := false
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = Principal{Name: t.name, Role: t.role}, true
		}
	}
	if !ok || a.accounts == nil {
		return found, ok
	}
	acc, isAccount := a.accounts.Get(found.Name)
	if !isAccount {
		return found, true
	}
	if acc.Disabled {
		return Principal{}, false
	}
	found.Departments = AccountPrincipal(acc).Departments
	return found, true
}

// Bearer returns the principal of the request's "Authorization: Bearer"
// token, and false without a valid one. It is for routes that answer
// everyone but tell more to some; Require guards routes.
func (a *Authenticator) Bearer(c *fiber.Ctx) (Principal, bool) {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, false
	}
	return a.Check(strings.TrimSpace(token))
}

// Caller returns the principal of the request's bearer token or, without
// an Authorization header, of its console session (see AcceptSessions),
// and false without either. It is for routes that answer everyone but
// tell more to some; Require guards routes.
func (a *Authenticator) Caller(c *fiber.Ctx) (Principal, bool) {
	if a.session == nil || c.Get(fiber.HeaderAuthorization) != "" {
		return a.Bearer(c)
	}
	return a.session(c)
}

const principalKey = "tousu.principal"

// Require returns middleware that admits requests with a bearer token (or,
// without an Authorization header, a console session: see AcceptSessions)
// whose role satisfies allowed, answering 401 without a valid token and
// 403 for a role that may not, each with a code and a Chinese message.
func (a *Authenticator) Require(allowed func(Role) bool) fiber.Handler {
	bearer := a.requireBearer(allowed)
	return func(c *fiber.Ctx) error {
		if a.session == nil || c.Get(fiber.HeaderAuthorization) != "" {
			return bearer(c)
		}
		p, ok := a.session(c)
		if !ok {
			return bearer(c) // answers 401
		}
		if !allowed(p.Role) {
			return forbidden(c)
		}
		SetPrincipal(c, p)
		return c.Next()
	}
}

// forbidden answers 403 for a principal whose role may not.
func forbidden(c *fiber.Ctx) error {
	return fail(c, fiber.StatusForbidden, apiError{Error: "this token may not do that", Code: "forbidden", Message: "您的账号无权执行此操作"})
}

// requireBearer is Require for bearer tokens only.
func (a *Authenticator) requireBearer(allowed func(Role) bool) fiber.Handler {
	return keyauth.New(keyauth.Config{
		Validator: func(c *fiber.Ctx, key string) (bool, error) {
			p, ok := a.Check(key)
			if !ok {
				return false, keyauth.ErrMissingOrMalformedAPIKey
			}
			if !allowed(p.Role) {
				return false, errForbidden
			}
			SetPrincipal(c, p)
			return true, nil
		},
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			if errors.Is(err, errForbidden) {
				return forbidden(c)
			}
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="tousu"`)
			return fail(c, fiber.StatusUnauthorized, apiError{Error: "missing or invalid bearer token", Code: "unauthorized",
				Message: "缺少访问令牌或令牌无效，请在 Authorization 请求头中提供“Bearer 令牌”"})
		},
	})
}

var errForbidden = errors.New("forbidden")

// PrincipalOf returns the principal the request was admitted as (by
// Require, or by the console's session middleware); the zero Principal
// when none was.
func PrincipalOf(c *fiber.Ctx) Principal {
	p, _ := c.Locals(principalKey).(Principal)
	return p
}

// SetPrincipal records who the request was admitted as, for PrincipalOf.
func SetPrincipal(c *fiber.Ctx, p Principal) { c.Locals(principalKey, p) }

// Knows reports whether name is someone who may work on cases: an enabled
// account whose role may search, or a configured token whose role may.
// Actions name only such people as actor or assignee.
func (a *Authenticator) Knows(name string) bool {
	if a.accounts != nil {
		if acc, ok := a.accounts.Get(name); ok {
			return !acc.Disabled && Role(acc.Role).MaySearch()
		}
	}
	for _, t := range a.tokens {
		if t.name == name && t.role.MaySearch() {
			return true
		}
	}
	return false
}

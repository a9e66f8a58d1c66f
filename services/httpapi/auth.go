package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/keyauth"

	"github.com/tousu/tousu/internal/secret"
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
)

// SeesContacts reports whether the role may see phone numbers unmasked.
func (r Role) SeesContacts() bool { return r == RoleAdmin || r == RoleSupervisor }

// MaySearch reports whether the role may read cases.
func (r Role) MaySearch() bool { return r != RoleIntake }

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
		case RoleAdmin, RoleSupervisor, RoleAgent, RoleIntake:
		default:
			errs = append(errs, fmt.Errorf("%s.role: %q is not one of admin, supervisor, agent, intake", p, t.Role))
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

// Authenticator checks bearer tokens. It is safe for concurrent use.
type Authenticator struct {
	tokens []hashedToken
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
func (a *Authenticator) Check(token string) (Principal, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Principal
	ok := false
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = Principal{Name: t.name, Role: t.role}, true
		}
	}
	return found, ok
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

const principalKey = "tousu.principal"

// Require returns middleware that admits requests with a bearer token whose
// role satisfies allowed, answering 401 without a valid token and 403 for
// a role that may not, each with a code and a Chinese message.
func (a *Authenticator) Require(allowed func(Role) bool) fiber.Handler {
	return keyauth.New(keyauth.Config{
		Validator: func(c *fiber.Ctx, key string) (bool, error) {
			p, ok := a.Check(key)
			if !ok {
				return false, keyauth.ErrMissingOrMalformedAPIKey
			}
			if !allowed(p.Role) {
				return false, errForbidden
			}
			c.Locals(principalKey, p)
			return true, nil
		},
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			if errors.Is(err, errForbidden) {
				return fail(c, fiber.StatusForbidden, apiError{Error: "this token may not do that", Code: "forbidden", Message: "您的账号无权执行此操作"})
			}
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="tousu"`)
			return fail(c, fiber.StatusUnauthorized, apiError{Error: "missing or invalid bearer token", Code: "unauthorized",
				Message: "缺少访问令牌或令牌无效，请在 Authorization 请求头中提供“Bearer 令牌”"})
		},
	})
}

var errForbidden = errors.New("forbidden")

// PrincipalOf returns the principal Require admitted.
func PrincipalOf(c *fiber.Ctx) Principal {
	p, _ := c.Locals(principalKey).(Principal)
	return p
}

// Knows reports whether name is an account that may work on cases: the
// name of a configured token whose role may search (every role but
// intake). Actions name only such accounts as actor or assignee.
func (a *Authenticator) Knows(name string) bool {
	for _, t := range a.tokens {
		if t.name == name && t.role.MaySearch() {
			return true
		}
	}
	return false
}

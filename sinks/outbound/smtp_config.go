package outbound

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/serverurl"
)

// Transport security of an SMTPConfig (its TLS field).
const (
	SMTPStartTLS = "starttls" // plain connect, then STARTTLS (port 587)
	SMTPImplicit = "implicit" // TLS from the first byte (port 465)
	SMTPNone     = "none"     // no encryption: only to a loopback host
)

// Defaults of an SMTPConfig.
const (
	DefaultSMTPTimeout = 30 * time.Second
	// EnvSMTPURL declares one SMTP sender, named EnvSMTPName, as a URL
	// (see SMTPFromURL).
	EnvSMTPURL  = "TOUSU_SMTP_URL"
	EnvSMTPName = "env"
)

// SMTPConfig is one SMTP server tousu sends e-mail through: one entry of
// the sender's list of SMTP senders. Its password is a secret.Secret
// (inline, file or environment variable) and is never logged.
type SMTPConfig struct {
	// Name identifies the sender in metrics, logs and errors: 1 to 64 of
	// a-z, 0-9, _ and -, unique.
	Name string `yaml:"name"`
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls, 465 for implicit and 25 for
	// none.
	Port int `yaml:"port"`
	// TLS is starttls (default), implicit or none. None sends the mail
	// and the password unencrypted and is accepted for a loopback host
	// only (a local relay such as Postfix on 127.0.0.1).
	TLS string `yaml:"tls"`
	// Username and Password log in with SMTP AUTH (the best mechanism the
	// server offers); without a username no AUTH is attempted.
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// From is the sender, with a display name: 投诉受理中心 <complaints@example.com>.
	From string `yaml:"from"`
	// Timeout bounds connecting and each SMTP command. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Packs are the policy packs (by name, without the version) whose
	// messages this sender sends; empty: every pack no other sender names.
	Packs []string `yaml:"packs"`
}

// Provision fills the default TLS mode, port and timeout. It reads nothing.
func (c *SMTPConfig) Provision() {
	if c.TLS == "" {
		c.TLS = SMTPStartTLS
	}
	if c.Port == 0 {
		switch c.TLS {
		case SMTPImplicit:
			c.Port = 465
		case SMTPNone:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultSMTPTimeout
	}
}

// ResolveSecrets reads the password from its file (relative to dir) or
// environment variable.
func (c *SMTPConfig) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	return c.Password.ResolveAt("", "password", dir, lookupEnv)
}

// Validate checks the sender without touching the network and reports
// every problem by its key (port: …), never the password. It changes
// nothing.
func (c SMTPConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, serverurl.CheckServer(c.Name, c.Host, c.Port)...)
	switch c.TLS {
	case "", SMTPStartTLS, SMTPImplicit:
	case SMTPNone:
		if c.Host != "" && !serverurl.IsLoopback(c.Host) {
			bad("tls: none sends mail and password unencrypted and is allowed to a loopback host only, not %q", c.Host)
		}
	default:
		bad("tls: %q is not starttls, implicit or none", c.TLS)
	}
	if c.Password.IsSet() && c.Username == "" {
		bad("username: required with a password")
	}
	if err := c.Password.Check(); err != nil {
		bad("password: %v", err)
	}
	if a, err := mail.ParseAddress(c.From); err != nil {
		bad("from: %q is not an address such as 投诉受理中心 <complaints@example.com>", c.From)
	} else if a.Name == "" {
		bad("from: %q has no display name (投诉受理中心 <complaints@example.com>)", c.From)
	}
	if c.Timeout < 0 {
		bad("timeout: must not be negative")
	}
	for _, p := range c.Packs {
		if strings.TrimSpace(p) == "" || strings.Contains(p, "@") {
			bad("packs: %q is not a pack name (without @version)", p)
		}
	}
	return errors.Join(errs...)
}

// SMTPFromURL turns a URL into an SMTP sender named name, for the quick
// start in the environment (TOUSU_SMTP_URL):
//
//	smtp://user:pass@smtp.example.com:587?from=%E6%8A%95%E8%AF%89%E5%8F%97%E7%90%86%E4%B8%AD%E5%BF%83%20%3Ccomplaints%40example.com%3E
//	smtp://127.0.0.1:10025?tls=none&from=...
//
// The scheme is smtp (starttls unless the query says tls=implicit or
// tls=none) or smtps (implicit TLS). A local server without AUTH may omit
// user:pass@. Query parameters: tls, from (the percent-encoded sender
// with its display name), timeout (a duration), packs (comma-separated).
// Unknown parameters are an error. The error never contains the password.
func SMTPFromURL(name, rawurl string) (SMTPConfig, error) {
	u, err := serverurl.Parse(rawurl, "smtp", "smtps")
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("smtp: sender %s: %w", name, err)
	}
	c := SMTPConfig{Name: name, Host: u.Host, Port: u.Port, TLS: SMTPStartTLS, Username: u.User, Password: secret.Inline(u.Password)}
	if u.Scheme == "smtps" {
		c.TLS = SMTPImplicit
	}
	var errs []error
	for _, key := range u.Keys() {
		v := u.Query.Get(key)
		switch key {
		case "tls":
			if v == SMTPStartTLS && u.Scheme == "smtps" {
				errs = append(errs, errors.New("tls=starttls conflicts with smtps:// (implicit TLS)"))
			}
			c.TLS = v
		case "from":
			c.From = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("timeout: %q is not a duration such as 30s", v))
			}
			c.Timeout = d
		case "packs":
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					c.Packs = append(c.Packs, p)
				}
			}
		default:
			errs = append(errs, fmt.Errorf("unknown parameter %q", key))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("smtp: sender %s: %w", name, err)
	}
	c.Provision()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("smtp: sender %s: %w", name, err)
	}
	return c, nil
}

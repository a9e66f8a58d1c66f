package alertsink

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
)

// Defaults and limits.
const (
	// DefaultTimeout bounds one webhook request when its timeout is zero.
	DefaultTimeout = 5 * time.Second
	// MaxResponseBytes is how much of a webhook's response body is read
	// (and discarded) before the connection is closed.
	MaxResponseBytes = 64 << 10
	// logSinkName names the log sink in metrics; no webhook may use it.
	logSinkName = "log"
)

// Kinds lists the notice kinds a webhook filter may name.
var Kinds = []string{router.NoticeUrge, router.NoticeBatch, router.NoticeEscalation}

var (
	sinkName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Config says where alerts go: the log, webhooks, group-chat robots,
// e-mail. It
// is the `alerts` section of tousu's configuration. The zero value
// delivers nowhere (notices are dropped); DefaultConfig logs them.
type Config struct {
	// Log writes every notice to the log (no complaint text).
	Log bool `yaml:"log"`
	// Webhooks receive the notices their filters let through.
	Webhooks []WebhookConfig `yaml:"webhooks"`
	// Robots are DingTalk and WeCom group robots that receive the
	// notices their filters let through, as Chinese markdown.
	Robots []RobotConfig `yaml:"robots"`
	// Email mails the notices its filters let through to the addresses
	// of the roles they notify, over SMTP.
	Email []EmailConfig `yaml:"email"`
	// ConsoleURL is the console's public base address
	// (https://tousu.example.com); robots and mails link each case to its
	// page under it. Empty: no links.
	ConsoleURL string `yaml:"console_url"`
}

// WebhookConfig is one webhook receiver. Its URL is treated as a secret
// (chat robots carry their token in the query or the path): logs and
// errors name the webhook and the URL's host only.
type WebhookConfig struct {
	// Name identifies the webhook in metrics, logs and errors: 1 to 64 of
	// a-z, 0-9, _ and -, unique, not "log".
	Name string `yaml:"name"`
	// URL is the http or https address notices are POSTed to. Set URL or
	// URLEnv, not both.
	URL string `yaml:"url"`
	// URLEnv names an environment variable holding the URL, for URLs that
	// carry a token. It is read by New.
	URLEnv string `yaml:"url_env"`
	// SecretEnv names the environment variable holding the HMAC key that
	// signs each request (at least 16 bytes, surrounding whitespace
	// ignored). It is never logged. Required unless Unsigned is set.
	SecretEnv string `yaml:"secret_env"`
	// Secret is the key SecretEnv names, set by Provision and read by
	// ResolveSecrets (or New).
	Secret secret.Secret `yaml:"-"`
	// Unsigned sends requests without X-Tousu-Signature. It must be set
	// explicitly and excludes SecretEnv.
	Unsigned bool `yaml:"unsigned"`
	// Kinds keeps only notices of these kinds (urge, batch, escalation);
	// empty keeps every kind.
	Kinds []string `yaml:"kinds"`
	// MinLevel drops escalations below this level. Urges and batches
	// have no level and are not affected (use Kinds to drop them).
	MinLevel int `yaml:"min_level"`
	// Notify keeps only escalations whose Notify list shares a role with
	// it (e.g. 质量总监); empty keeps every escalation. Urges and batches
	// are not affected (use Kinds to drop them).
	Notify []string `yaml:"notify"`
	// Timeout bounds each request, including reading the response.
	// Default DefaultTimeout (5s), filled by Provision.
	Timeout time.Duration `yaml:"timeout"`
	// OmitExcerpt leaves the complaint excerpt out of the payload, for
	// receivers such as group chats that should not see complaint text.
	OmitExcerpt bool `yaml:"omit_excerpt"`
}

// DefaultConfig logs every notice and calls no webhook.
func DefaultConfig() Config {
	return Config{Log: true}
}

// Filter returns the webhook's filter.
func (w WebhookConfig) Filter() Filter {
	return Filter{Kinds: w.Kinds, MinLevel: w.MinLevel, Notify: w.Notify}
}

// Provision provisions every webhook, robot and e-mail target. It reads
// nothing.
func (c *Config) Provision() {
	for i := range c.Webhooks {
		c.Webhooks[i].Provision()
	}
	for i := range c.Robots {
		if c.Robots[i].Timeout == 0 {
			c.Robots[i].Timeout = DefaultTimeout
		}
	}
	for i := range c.Email {
		c.Email[i].Provision()
	}
}

// Provision fills the default timeout and names secret_env as the
// webhook's Secret. It reads nothing.
func (w *WebhookConfig) Provision() {
	if w.Timeout == 0 {
		w.Timeout = DefaultTimeout
	}
	if w.SecretEnv != "" && w.Secret.Env != w.SecretEnv {
		w.Secret = secret.Secret{Env: w.SecretEnv}
	}
}

// ResolveSecrets reads the secrets of the webhooks, robots (a robot's URL
// too) and e-mail targets (their SMTP passwords) from their files
// (relative to dir) or environment variables, reporting every one that
// cannot be read by its key.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	var errs []error
	for i := range c.Webhooks {
		errs = append(errs, c.Webhooks[i].Secret.ResolveAt(fmt.Sprintf("webhooks[%d]", i), "secret_env", dir, lookupEnv))
	}
	for i := range c.Robots {
		errs = append(errs, c.Robots[i].resolveSecrets(fmt.Sprintf("robots[%d]", i), dir, lookupEnv))
	}
	for i := range c.Email {
		errs = append(errs, c.Email[i].SMTP.Password.ResolveAt(fmt.Sprintf("email[%d].smtp", i), "password", dir, lookupEnv))
	}
	return errors.Join(errs...)
}

// Validate checks the configuration without reading the environment:
// names (format, unique among webhooks, robots and e-mail targets), the
// URL (http or https with a host) or the name of its variable, that each
// webhook is signed (a secret at least webhook.MinSecretBytes long where
// it is at hand) or explicitly unsigned, each robot's kind and secrets,
// each e-mail target's SMTP server and addresses, known kinds, that
// levels and timeouts are not negative, and the console URL. It changes
// nothing. Every error names its key (webhooks[i].field, robots[i].field,
// email[i].smtp.field) but never a URL's token, a secret or an address.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]string{}
	for i, w := range c.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		errs = append(errs, checkTarget(at, w.Name, w.Filter(), w.Timeout, seen)...)
		switch {
		case w.URL != "" && w.URLEnv != "":
			errs = append(errs, fmt.Errorf("%s.url: set url or url_env, not both", at))
		case w.URL == "" && w.URLEnv == "":
			errs = append(errs, fmt.Errorf("%s.url: url or url_env is required", at))
		case w.URL != "":
			if err := httppost.CheckURL(w.URL); err != nil {
				errs = append(errs, fmt.Errorf("%s.url: %w", at, err))
			}
		case !envName.MatchString(w.URLEnv):
			errs = append(errs, fmt.Errorf("%s.url_env: %q is not an environment variable name", at, w.URLEnv))
		}
		switch {
		case w.SecretEnv != "" && w.Unsigned:
			errs = append(errs, fmt.Errorf("%s.secret_env: set secret_env or unsigned: true, not both", at))
		case w.SecretEnv == "" && !w.Unsigned:
			errs = append(errs, fmt.Errorf("%s.secret_env: required (or unsigned: true to send unsigned requests)", at))
		case w.SecretEnv != "" && !envName.MatchString(w.SecretEnv):
			errs = append(errs, fmt.Errorf("%s.secret_env: %q is not an environment variable name", at, w.SecretEnv))
		case w.Secret.Known() && len(strings.TrimSpace(w.Secret.Reveal())) < webhook.MinSecretBytes:
			errs = append(errs, fmt.Errorf("%s.secret_env: the secret in %s must be at least %d bytes", at, w.SecretEnv, webhook.MinSecretBytes))
		}
	}
	for i, r := range c.Robots {
		at := fmt.Sprintf("robots[%d]", i)
		errs = append(errs, checkTarget(at, r.Name, r.Filter(), r.Timeout, seen)...)
		errs = append(errs, keypath.Prefix(at, r.validate())...)
	}
	for i, e := range c.Email {
		at := fmt.Sprintf("email[%d]", i)
		errs = append(errs, checkTarget(at, e.Name, Filter{Kinds: e.Kinds, MinLevel: e.MinLevel}, 0, seen)...)
		errs = append(errs, keypath.Prefix(at, e.validate())...)
	}
	if c.ConsoleURL != "" {
		if err := httppost.CheckURL(c.ConsoleURL); err != nil {
			errs = append(errs, fmt.Errorf("console_url: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkTarget checks what webhooks and robots share, the target at key
// at: its name (format, not "log", not in seen, which it joins), its
// filter and its timeout.
func checkTarget(at, name string, f Filter, timeout time.Duration, seen map[string]string) []error {
	var errs []error
	switch {
	case !sinkName.MatchString(name):
		errs = append(errs, fmt.Errorf("%s.name: %q: names are 1 to 64 of a-z, 0-9, _ and -", at, name))
	case name == logSinkName:
		errs = append(errs, fmt.Errorf("%s.name: %q is reserved for the log sink", at, name))
	default:
		if first, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is already used by %s", at, name, first))
		} else {
			seen[name] = at
		}
	}
	for _, k := range f.Kinds {
		if !slices.Contains(Kinds, k) {
			errs = append(errs, fmt.Errorf("%s.kinds: unknown kind %q (known: %s)", at, k, strings.Join(Kinds, ", ")))
		}
	}
	if f.MinLevel < 0 {
		errs = append(errs, fmt.Errorf("%s.min_level: must not be negative", at))
	}
	for _, r := range f.Notify {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, fmt.Errorf("%s.notify: empty role", at))
		}
	}
	if timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must be positive (0 means %s)", at, DefaultTimeout))
	}
	return errs
}

// MarshalYAML writes the webhook with its URL cut to the scheme and host
// (the rest may carry a token), as logs and errors show it.
func (w WebhookConfig) MarshalYAML() (any, error) {
	type plain WebhookConfig // without this method
	p := plain(w)
	if u, err := url.Parse(w.URL); err == nil && u.Host != "" && (u.Path != "" || u.RawQuery != "" || u.User != nil) {
		p.URL = u.Scheme + "://" + u.Host + "/" + secret.Redacted
	}
	return p, nil
}

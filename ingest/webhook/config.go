package webhook

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/internal/secret"
)

// Config configures the webhook endpoint. Zero MaxBodyBytes, Tolerance and
// PublishTimeout mean their defaults, filled by Provision.
type Config struct {
	// Sources are the partner platforms allowed to post, by name (the
	// :source of the URL). Names are lower-case letters, digits, "_" and
	// "-". A source can also be declared by the environment variable
	// TOUSU_WEBHOOK_SECRET_<SOURCE>; the config loader turns it into an
	// entry here whose secret is that variable.
	Sources map[string]SourceConfig `yaml:"sources"`
	// MaxBodyBytes bounds a request body, for sources that set no
	// max_body_bytes of their own and for unknown sources. Default
	// 256 KiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Tolerance is how far X-Tousu-Timestamp may be from the server clock
	// in either direction. Default 5m.
	Tolerance time.Duration `yaml:"tolerance"`
	// PublishTimeout bounds the wait for the broker's acknowledgement.
	// Default 10s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// Intake is the installation's contact rule (the tousu configuration's
	// section "intake"), applied to the phone numbers customers give.
	Intake ingest.Config `yaml:"-"`
}

// SourceConfig is one partner platform.
type SourceConfig struct {
	// Secret is the shared HMAC key, at least MinSecretBytes long: inline,
	// in a file or in an environment variable.
	Secret secret.Secret `yaml:"secret"`
	// SecretFile names a file holding the secret (surrounding whitespace
	// is ignored); Provision folds it into Secret.
	SecretFile string `yaml:"secret_file,omitempty"`
	// PreviousSecret is the secret being retired while a partner rotates
	// (optional, as Secret): requests signed with either are accepted, so
	// the partner can switch at any moment; remove it once they have.
	PreviousSecret secret.Secret `yaml:"previous_secret,omitempty"`
	// PreviousSecretFile names a file holding PreviousSecret; Provision
	// folds it in.
	PreviousSecretFile string `yaml:"previous_secret_file,omitempty"`
	// Mapping maps our field names (name, phone, email, subject,
	// description, source_id, occurred_at) to a dot path into the
	// partner's JSON, such as "customer.mobile" or "data.items.0.text"
	// (numbers index arrays; keys containing dots cannot be addressed).
	// Unmapped fields are read from the default payload names.
	Mapping map[string]string `yaml:"mapping"`
	// MaxBodyBytes bounds this source's request bodies; zero means the
	// endpoint's max_body_bytes. The handler stops reading at the limit.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RateLimit is how many authentic requests the source may send per
	// RateWindow, counted across every gateway replica; past it they are
	// answered 429 with Retry-After. Zero means no limit.
	RateLimit int `yaml:"rate_limit"`
	// RateWindow is the window of RateLimit, from 1s to 1h (default 1m).
	RateWindow time.Duration `yaml:"rate_window"`
	// HTML names the fields (subject, description) the partner sends as
	// HTML. They are rendered as plain text at intake (ingest.HTMLToText)
	// and the envelope notes it in Extra; every other field is plain text
	// and kept as sent, angle brackets included.
	HTML []string `yaml:"html"`
}

// HTMLFields lists the fields a source's HTML may name.
var HTMLFields = []string{"subject", "description"}

// Defaults and limits.
const (
	DefaultMaxBodyBytes   = 256 << 10
	DefaultTolerance      = 5 * time.Minute
	DefaultPublishTimeout = 10 * time.Second
	// DefaultRateWindow is the window of a source's rate_limit.
	DefaultRateWindow = time.Minute
	// MinSecretBytes is the shortest accepted secret.
	MinSecretBytes = 16
)

// Fields lists the payload fields a Mapping may name, which are also the
// names of the default payload.
var Fields = []string{"name", "phone", "email", "subject", "description", "source_id", "occurred_at"}

var sourceName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// DefaultConfig returns a configuration with no sources and every default
// filled in.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: DefaultMaxBodyBytes, Tolerance: DefaultTolerance, PublishTimeout: DefaultPublishTimeout}
}

// Provision fills the defaults and folds each source's secret_file into
// its Secret. It reads nothing.
func (c *Config) Provision() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	for name, src := range c.Sources {
		src.Secret.Fold(&src.SecretFile, nil)
		src.PreviousSecret.Fold(&src.PreviousSecretFile, nil)
		if src.RateLimit > 0 && src.RateWindow == 0 {
			src.RateWindow = DefaultRateWindow
		}
		c.Sources[name] = src
	}
}

// ResolveSecrets reads the secrets given in files (relative to dir) or in
// environment variables, reporting every one that cannot be read by its
// key.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	var errs []error
	for _, name := range sortedKeys(c.Sources) {
		src := c.Sources[name]
		errs = append(errs, src.Secret.ResolveAt("sources."+name, "secret", dir, lookupEnv),
			src.PreviousSecret.ResolveAt("sources."+name, "previous_secret", dir, lookupEnv))
		c.Sources[name] = src
	}
	return errors.Join(errs...)
}

// Validate checks the configuration without touching the file system:
// source names, that each source has exactly one secret and that a secret
// at hand is long enough, the mapping's field names and paths, the HTML
// fields, and that no limit is negative. It changes nothing. Every error
// names its key (sources.<name>.mapping.<field>) but never a secret.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("max_body_bytes: must not be negative"))
	}
	if c.Tolerance < 0 {
		errs = append(errs, errors.New("tolerance: must not be negative"))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, errors.New("publish_timeout: must not be negative"))
	}
	for _, name := range sortedKeys(c.Sources) {
		src := c.Sources[name]
		at := "sources." + name
		if !sourceName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s: source names are 1 to 64 of a-z, 0-9, _ and -", at))
		}
		if src.MaxBodyBytes < 0 {
			errs = append(errs, fmt.Errorf("%s.max_body_bytes: must not be negative", at))
		}
		if src.RateLimit < 0 {
			errs = append(errs, fmt.Errorf("%s.rate_limit: must not be negative", at))
		}
		if src.RateWindow < 0 || (src.RateWindow > 0 && src.RateWindow < time.Second) || src.RateWindow > webform.MaxRateWindow {
			errs = append(errs, fmt.Errorf("%s.rate_window: %s must be from 1s to %s", at, src.RateWindow, webform.MaxRateWindow))
		}
		errs = append(errs, checkSecret(at, "secret", src.Secret, src.SecretFile, true),
			checkSecret(at, "previous_secret", src.PreviousSecret, src.PreviousSecretFile, false))
		if src.PreviousSecret.Known() && src.Secret.Known() && src.PreviousSecret.Reveal() == src.Secret.Reveal() {
			errs = append(errs, fmt.Errorf("%s.previous_secret: the same as secret; remove it", at))
		}
		for _, field := range sortedKeys(src.Mapping) {
			if !slices.Contains(Fields, field) {
				errs = append(errs, fmt.Errorf("%s.mapping.%s: unknown field (known: %s)", at, field, strings.Join(Fields, ", ")))
				continue
			}
			if _, err := splitPath(src.Mapping[field]); err != nil {
				errs = append(errs, fmt.Errorf("%s.mapping.%s: %w", at, field, err))
			}
		}
		for i, field := range src.HTML {
			if !slices.Contains(HTMLFields, field) {
				errs = append(errs, fmt.Errorf("%s.html[%d]: %q is not a field that can be HTML (%s)", at, i, field, strings.Join(HTMLFields, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// checkSecret checks the secret of a source under the key name (and
// name_file): one source of it, present when required, and long enough
// when its value is at hand.
func checkSecret(at, name string, s secret.Secret, file string, required bool) error {
	switch {
	case file != "" && s.IsSet(), s.Check() != nil:
		return fmt.Errorf("%s.%s: set %s or %s_file, not both", at, name, name, name)
	case !s.IsSet() && file == "":
		if required {
			return fmt.Errorf("%s.%s: %s or %s_file is required", at, name, name, name)
		}
	case s.Known() && len(s.Reveal()) < MinSecretBytes:
		return fmt.Errorf("%s.%s: must be at least %d bytes", at, s.Key(name), MinSecretBytes)
	}
	return nil
}

// splitPath splits a dot path into its keys.
func splitPath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	parts := strings.Split(p, ".")
	for _, s := range parts {
		if s == "" {
			return nil, fmt.Errorf("path %q has an empty part", p)
		}
	}
	return parts, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

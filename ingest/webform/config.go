package webform

import (
	"errors"
	"fmt"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/internal/secret"
)

// Config configures the web form, its status page and the JSON API. A zero
// field means its default (see DefaultConfig), filled by Provision;
// CookieSecure defaults to false.
type Config struct {
	// MaxAttachmentBytes bounds the attachment of one submission.
	// Default 10 MiB. A form post may be Config.BodyLimit() bytes long;
	// the form stops reading there.
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes"`
	// Intake is the installation's contact rule (the tousu configuration's
	// section "intake"), applied to the phone numbers customers give.
	Intake ingest.Config `yaml:"-"`
	// EmailProgress says that customers who gave only an e-mail address
	// hear of their complaint's progress by e-mail (an SMTP sender and the
	// router's acknowledgements or result notices are configured); the
	// status page promises it only then. Set by the app.
	EmailProgress bool `yaml:"-"`
	// MaxJSONBytes bounds the body of POST /api/v1/complaints; the API
	// stops reading there. Default 64 KiB.
	MaxJSONBytes int64 `yaml:"max_json_bytes"`
	// RateLimit is how many form submissions (POST /complaints) one client
	// IP may make per RateWindow; status look-ups (POST /status) have a
	// separate budget of the same size. Default 10. The counts are shared
	// by the replicas (Shared.Rates). The client IP is
	// fiber's c.IP(), so behind a reverse proxy the app must be configured
	// with ProxyHeader and TrustedProxies.
	RateLimit int `yaml:"rate_limit"`
	// RateWindow is the window of RateLimit, at most MaxRateWindow.
	// Default 1m.
	RateWindow time.Duration `yaml:"rate_window"`
	// CookieSecure marks the CSRF cookie Secure on every answer. Without
	// it the cookie is Secure when the page is served over HTTPS: directly,
	// or behind a proxy that says so in X-Forwarded-Proto. Set it when a
	// proxy terminates TLS without that header.
	CookieSecure bool `yaml:"cookie_secure"`
	// CSRFExpiration is how long a rendered form stays valid (the
	// lifetime of the CSRF cookie). Default 1h. A token is valid for twice
	// as long after it was issued, and pages reuse the browser's token
	// during the first half, so that forms open in several tabs share it.
	CSRFExpiration time.Duration `yaml:"csrf_expiration"`
	// CSRFSecret is the key that signs CSRF tokens, at least
	// MinCSRFSecretBytes bytes; New requires one. Every replica serving
	// the form or the status page must have the same secret so that a
	// page rendered by one is accepted by another. The tousu
	// configuration also takes it from the environment variable
	// EnvCSRFSecret, and derives one from the server secret when neither
	// is set. It is never logged.
	CSRFSecret secret.Secret `yaml:"csrf_secret"`
	// MaxStatusFailures is how many look-ups of one reference may fail
	// (wrong digits, or a reference that does not exist) within
	// StatusLockWindow before the status page locks the reference: then
	// every look-up of it, on every replica, gets a "too many attempts"
	// page (429) until the oldest failure leaves the window. A successful
	// look-up clears the count. Default 5.
	MaxStatusFailures int `yaml:"max_status_failures"`
	// StatusLockWindow is the window of MaxStatusFailures. Default 1h.
	StatusLockWindow time.Duration `yaml:"status_lock_window"`
	// Organisation is who the public pages say the customer deals with,
	// and the privacy notice the form asks consent to.
	Organisation Organisation `yaml:"organisation"`
	// APIRequiresConsent makes the JSON API refuse (422) a complaint
	// without "consent": {"version": "…"}. Default false: a partner
	// system may collect consent itself under its own notice; the version
	// is recorded whenever it is given.
	APIRequiresConsent bool `yaml:"api_requires_consent"`
	// Dir is the directory the organisation's files are relative to (the
	// configuration file's). Set by the app.
	Dir string `yaml:"-"`
	// PublishTimeout bounds the wait for the broker's acknowledgement and
	// for a status look-up. Default 10s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
}

// Defaults used for zero Config fields.
const (
	DefaultMaxAttachmentBytes = 10 << 20
	DefaultMaxJSONBytes       = 64 << 10
	DefaultRateLimit          = 10
	DefaultRateWindow         = time.Minute
	DefaultCSRFExpiration     = time.Hour
	DefaultPublishTimeout     = 10 * time.Second
	DefaultMaxStatusFailures  = 5
	DefaultStatusLockWindow   = time.Hour
)

// multipartOverhead is what the text fields and multipart framing of one
// submission may add to the attachment.
const multipartOverhead = 256 << 10

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	c := Config{
		MaxAttachmentBytes: DefaultMaxAttachmentBytes,
		MaxJSONBytes:       DefaultMaxJSONBytes,
		RateLimit:          DefaultRateLimit,
		RateWindow:         DefaultRateWindow,
		CSRFExpiration:     DefaultCSRFExpiration,
		PublishTimeout:     DefaultPublishTimeout,
		MaxStatusFailures:  DefaultMaxStatusFailures,
		StatusLockWindow:   DefaultStatusLockWindow,
	}
	c.Organisation.Provision()
	return c
}

// Provision fills every zero field with its default. It opens nothing.
func (c *Config) Provision() {
	d := DefaultConfig()
	if c.MaxAttachmentBytes == 0 {
		c.MaxAttachmentBytes = d.MaxAttachmentBytes
	}
	if c.MaxJSONBytes == 0 {
		c.MaxJSONBytes = d.MaxJSONBytes
	}
	if c.RateLimit == 0 {
		c.RateLimit = d.RateLimit
	}
	if c.RateWindow == 0 {
		c.RateWindow = d.RateWindow
	}
	if c.CSRFExpiration == 0 {
		c.CSRFExpiration = d.CSRFExpiration
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = d.PublishTimeout
	}
	if c.MaxStatusFailures == 0 {
		c.MaxStatusFailures = d.MaxStatusFailures
	}
	if c.StatusLockWindow == 0 {
		c.StatusLockWindow = d.StatusLockWindow
	}
	c.Organisation.Provision()
}

// ResolveSecrets reads the CSRF secret from its file (relative to dir) or
// its environment variable.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	return c.CSRFSecret.ResolveAt("", "csrf_secret", dir, lookupEnv)
}

// Validate checks that no limit is negative, that the rate window is at
// least a second (the limiter counts in whole seconds) and that a CSRF
// secret, when at hand, is long enough. It changes nothing; every error
// names its key.
func (c Config) Validate() error {
	var errs []error
	if c.MaxAttachmentBytes < 0 {
		errs = append(errs, errors.New("max_attachment_bytes: must not be negative"))
	}
	if c.MaxJSONBytes < 0 {
		errs = append(errs, errors.New("max_json_bytes: must not be negative"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, errors.New("rate_limit: must not be negative"))
	}
	if c.RateWindow < 0 || (c.RateWindow > 0 && c.RateWindow < time.Second) || c.RateWindow > MaxRateWindow {
		errs = append(errs, fmt.Errorf("rate_window: %s must be from 1s to %s", c.RateWindow, MaxRateWindow))
	}
	if c.CSRFExpiration < 0 || (c.CSRFExpiration > 0 && c.CSRFExpiration < time.Minute) {
		errs = append(errs, fmt.Errorf("csrf_expiration: %s must be at least 1m", c.CSRFExpiration))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, errors.New("publish_timeout: must not be negative"))
	}
	if c.MaxStatusFailures < 0 {
		errs = append(errs, errors.New("max_status_failures: must not be negative"))
	}
	if c.StatusLockWindow < 0 {
		errs = append(errs, errors.New("status_lock_window: must not be negative"))
	}
	errs = append(errs, keypath.Prefix("organisation", c.Organisation.Validate())...)
	if err := c.CSRFSecret.Check(); err != nil {
		errs = append(errs, fmt.Errorf("csrf_secret: %w", err))
	}
	if c.CSRFSecret.Known() && len(c.CSRFSecret.Reveal()) < MinCSRFSecretBytes {
		errs = append(errs, fmt.Errorf("%s: must be at least %d bytes", c.CSRFSecret.Key("csrf_secret"), MinCSRFSecretBytes))
	}
	return errors.Join(errs...)
}

// BodyLimit returns how long (in bytes) a form post may be: the attachment
// of MaxAttachmentBytes plus room for the text fields.
func (c Config) BodyLimit() int {
	return int(c.MaxAttachmentBytes + multipartOverhead)
}

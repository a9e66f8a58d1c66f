package sender

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/sinks/outbound"
)

// Defaults of a Config.
const (
	DefaultAttempts   = 5
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	// DefaultRemember outlasts the outbox topic's retention (7 days), so
	// that no record the topic still holds is sent twice.
	DefaultRemember = 8 * 24 * time.Hour
	// DefaultPerSecond is the rate limit of a provider without one.
	DefaultPerSecond = 5
)

// Config configures the sender (the sender section of the
// configuration): the SMTP servers it sends e-mail through, how often it
// tries a message that fails for now, and how long it remembers what it
// delivered.
type Config struct {
	// SMTP lists the SMTP senders. A message goes through the first whose
	// packs name its pack, else the first without packs.
	SMTP []SMTPSender `yaml:"smtp"`
	// SMS is the text-message provider (Aliyun SMS or an organisation's
	// signed-HTTP relay); none when its provider is empty.
	SMS SMSSender `yaml:"sms"`
	// Attempts bounds the tries of a message that fails for now (a 4xx
	// reply, a connection failure); after the last it is reported failed
	// and dead-lettered. Default 5.
	Attempts int `yaml:"attempts"`
	// MinBackoff and MaxBackoff bound the doubling pause between tries.
	// Defaults 1s and 30s: with 5 attempts a failing provider holds the
	// outbox partition for at most 15s per message.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Remember is how long the ids of delivered messages are kept, so that
	// a redelivered record is not sent again. It must outlast the outbox
	// topic's retention. Default 8 days.
	Remember time.Duration `yaml:"remember"`
}

// SMTPSender is one SMTP server with its rate limit.
type SMTPSender struct {
	outbound.SMTPConfig `yaml:",inline"`
	// Rate limits the messages sent through this server.
	Rate Rate `yaml:"rate"`
}

// SMSSender is the SMS provider with its rate limit.
type SMSSender struct {
	outbound.SMSConfig `yaml:",inline"`
	// Rate limits the messages sent through the provider.
	Rate Rate `yaml:"rate"`
}

// FromDomain is the domain of the first SMTP sender's From address, the
// right-hand side of the router's Message-IDs; "" without SMTP senders.
func (c Config) FromDomain() string {
	if len(c.SMTP) == 0 {
		return ""
	}
	addr, err := mail.ParseAddress(c.SMTP[0].From)
	if err != nil {
		return ""
	}
	_, domain, _ := strings.Cut(addr.Address, "@")
	return strings.ToLower(domain)
}

// Rate limits how many messages go to one provider, so that a burst (a
// batch incident's acknowledgements) does not trip the provider's own
// limits. Zero fields mean no limit over that window, except that a Rate
// with both zero is provisioned to DefaultPerSecond per second.
type Rate struct {
	PerSecond int `yaml:"per_second"`
	PerMinute int `yaml:"per_minute"`
}

// Provision fills the defaults. It reads nothing.
func (c *Config) Provision() {
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Remember == 0 {
		c.Remember = DefaultRemember
	}
	for i := range c.SMTP {
		c.SMTP[i].SMTPConfig.Provision()
		c.SMTP[i].Rate.Provision()
	}
	c.SMS.SMSConfig.Provision()
	c.SMS.Rate.Provision()
}

// Provision sets DefaultPerSecond when no limit is given.
func (r *Rate) Provision() {
	if r.PerSecond == 0 && r.PerMinute == 0 {
		r.PerSecond = DefaultPerSecond
	}
}

// Validate checks a rate.
func (r Rate) Validate() error {
	var errs []error
	if r.PerSecond < 0 {
		errs = append(errs, fmt.Errorf("per_second: must not be negative, got %d", r.PerSecond))
	}
	if r.PerMinute < 0 {
		errs = append(errs, fmt.Errorf("per_minute: must not be negative, got %d", r.PerMinute))
	}
	return errors.Join(errs...)
}

// ResolveSecrets reads the SMTP passwords and the SMS provider's secrets from their files (relative to
// dir) or environment variables.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	var errs []error
	for i := range c.SMTP {
		errs = append(errs, keypath.Prefix(fmt.Sprintf("smtp[%d]", i), c.SMTP[i].ResolveSecrets(dir, lookupEnv))...)
	}
	errs = append(errs, keypath.Prefix("sms", c.SMS.SMSConfig.ResolveSecrets(dir, lookupEnv))...)
	return errors.Join(errs...)
}

// Validate checks every field and reports each problem by its key path
// (smtp[1].tls: …), never a password. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, s := range c.SMTP {
		at := fmt.Sprintf("smtp[%d]", i)
		errs = append(errs, keypath.Prefix(at, s.SMTPConfig.Validate())...)
		errs = append(errs, keypath.Prefix(at+".rate", s.Rate.Validate())...)
		if j, dup := seen[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is already used by smtp[%d]", at, s.Name, j))
		}
		seen[s.Name] = i
	}
	errs = append(errs, keypath.Prefix("sms", c.SMS.SMSConfig.Validate())...)
	errs = append(errs, keypath.Prefix("sms.rate", c.SMS.Rate.Validate())...)
	if c.Attempts < 0 {
		errs = append(errs, fmt.Errorf("attempts: must not be negative, got %d", c.Attempts))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 {
		errs = append(errs, errors.New("min_backoff: the backoffs must not be negative"))
	} else if c.MaxBackoff != 0 && c.MinBackoff > c.MaxBackoff {
		errs = append(errs, fmt.Errorf("min_backoff: %s exceeds max_backoff %s", c.MinBackoff, c.MaxBackoff))
	}
	if c.Remember < 0 {
		errs = append(errs, fmt.Errorf("remember: must not be negative, got %s", c.Remember))
	} else if c.Remember != 0 && c.Remember < 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("remember: %s is shorter than the outbox topic's retention (168h): a late redelivery would be sent twice", c.Remember))
	}
	return errors.Join(errs...)
}

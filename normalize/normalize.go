package normalize

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/tousu/tousu/ingest"

	"github.com/tousu/tousu/internal/keypath"
)

// Config configures the normalizer.
type Config struct {
	// SeenRetention is how many days the ids of processed complaints are
	// remembered for duplicate suppression (default 90).
	SeenRetentionDays int `yaml:"seen_retention_days"`
	// Dedupe configures duplicate, repeat and batch detection, which the
	// router applies with the customer's history (see Decide).
	Dedupe DedupeConfig `yaml:"dedupe"`
}

// Provision fills the defaults.
func (c *Config) Provision() {
	if c.SeenRetentionDays == 0 {
		c.SeenRetentionDays = 90
	}
	c.Dedupe.Provision()
}

// Validate checks the configuration and reports every problem by its key.
// It changes nothing.
func (c Config) Validate() error {
	var errs []error
	if c.SeenRetentionDays < 0 {
		errs = append(errs, fmt.Errorf("seen_retention_days: must not be negative, got %d", c.SeenRetentionDays))
	}
	errs = append(errs, keypath.Prefix("dedupe", c.Dedupe.Validate())...)
	return errors.Join(errs...)
}

// Seen remembers which complaint ids were already processed, so that a
// complaint delivered twice is passed on once. Implementations are safe for
// concurrent use. Remember is called only after the normalized complaint was
// acknowledged by the broker, so a crash in between re-processes the
// complaint (harmless downstream) rather than losing it.
type Seen interface {
	// Has reports whether id was remembered.
	Has(ctx context.Context, id string) (bool, error)
	// Remember records ids as processed.
	Remember(ctx context.Context, ids ...string) error
}

// SeenKeys returns the keys under which a complaint counts as already
// processed: its id and, for e-mail with a Message-ID, that Message-ID with
// the sender, so the same mail delivered to two mailboxes (or read again
// after the mailbox's UIDVALIDITY changed, which gives new ids) is passed
// on once.
func SeenKeys(c Complaint) []string {
	keys := []string{c.ID}
	if msgID := c.Extra[ingest.ExtraMessageID]; c.Channel == ingest.ChannelEmail && msgID != "" {
		keys = append(keys, "email-message-id:"+c.Customer.Email+"\x00"+msgID)
	}
	return keys
}

// ErrInvalid is wrapped by Normalize when an envelope cannot become a
// complaint; such an envelope belongs in the dead-letter topic.
var ErrInvalid = errors.New("invalid envelope")

// Normalize turns an envelope into the canonical complaint: clean text and
// a normalised customer identity. The phone number is read by the rule
// intake applied (ingest.PhoneE164), so every number intake accepted
// identifies its customer; one that cannot be read (from an envelope
// published before the rule) is kept in Extra["phone_raw"] rather than
// dropped. E-mail addresses are read by intake's rule too
// (ingest.CheckEmail) and kept in lower case.
func Normalize(env ingest.Envelope) (Complaint, error) {
	if env.V != ingest.SchemaVersion {
		return Complaint{}, fmt.Errorf("%w: schema version %d, want %d", ErrInvalid, env.V, ingest.SchemaVersion)
	}
	if env.ID == "" || env.Reference == "" {
		return Complaint{}, fmt.Errorf("%w: missing id or reference", ErrInvalid)
	}
	c := Complaint{
		V:           SchemaVersion,
		ID:          env.ID,
		Reference:   env.Reference,
		Channel:     env.Channel,
		Source:      env.Source,
		SourceID:    env.SourceID,
		ReceivedAt:  env.ReceivedAt.UTC(),
		OccurredAt:  env.OccurredAt,
		Subject:     CleanText(env.Subject),
		Description: CleanText(env.Description),
		Attachments: env.Attachments,
		Extra:       maps.Clone(env.Extra),
		Customer:    Customer{Name: CleanText(env.Name)},
	}
	if c.Description == "" && c.Subject == "" {
		return Complaint{}, fmt.Errorf("%w: no text", ErrInvalid)
	}
	if env.Phone != "" {
		p, err := ingest.PhoneE164(env.Phone)
		if err != nil {
			c.Extra = setExtra(c.Extra, "phone_raw", env.Phone)
		}
		c.Customer.Phone = p
	}
	if env.Email != "" {
		if ingest.CheckEmail(env.Email) == nil {
			c.Customer.Email = strings.ToLower(strings.TrimSpace(env.Email))
		} else {
			c.Extra = setExtra(c.Extra, "email_raw", env.Email)
		}
	}
	c.Customer.Key = customerKey(c)
	return c, nil
}

// customerKey identifies the complainant across channels: phone first, then
// email; a complaint with neither is its own customer.
func customerKey(c Complaint) string {
	switch {
	case c.Customer.Phone != "":
		return "phone:" + c.Customer.Phone
	case c.Customer.Email != "":
		return "email:" + c.Customer.Email
	}
	return "anonymous:" + c.ID
}

func setExtra(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// Package ingest holds the envelope every intake channel emits and the rules
// adapters follow to hand envelopes on. Channel adapters live in sub-packages
// (webform, webhook, imap, csvdrop); they know nothing of Kafka: they call a
// Publish function and acknowledge their source only when it returned nil.
package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// SchemaVersion is the payload version written into every envelope as "v".
const SchemaVersion = 1

// Channel names the way a complaint reached tousu.
type Channel string

// The channels tousu accepts complaints on.
const (
	ChannelWebForm Channel = "webform"
	ChannelAPI     Channel = "api"
	ChannelWebhook Channel = "webhook"
	ChannelEmail   Channel = "email"
	ChannelHotline Channel = "hotline"
)

// Attachment records a file that came with a complaint. The content itself
// lives in the content-addressed attachment store under its SHA256.
type Attachment struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Envelope is one complaint as a channel received it, before any cleaning.
// It is the payload of the complaints.raw topic.
type Envelope struct {
	V int `json:"v"`
	// ID is deterministic: the same submission always gets the same ID, so
	// every later step can be repeated safely.
	ID string `json:"id"`
	// Reference is the 受理编号 given to the customer; derived from ID
	// with References.
	Reference  string    `json:"reference"`
	Channel    Channel   `json:"channel"`
	Source     string    `json:"source,omitempty"`    // webhook source, mailbox or folder name
	SourceID   string    `json:"source_id,omitempty"` // the id the source system gave it
	ReceivedAt time.Time `json:"received_at"`
	OccurredAt time.Time `json:"occurred_at,omitzero"` // when the customer says it happened

	Name        string       `json:"name,omitempty"`
	Phone       string       `json:"phone,omitempty"`
	Email       string       `json:"email,omitempty"`
	Subject     string       `json:"subject,omitempty"`
	Description string       `json:"description"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Extra carries channel-specific fields (remote address, mapped partner
	// fields) that later stages may use as hints.
	Extra map[string]string `json:"extra,omitempty"`
}

// ExtraMessageID is the Extra key of an e-mail's Message-ID (without angle
// brackets). The same mail delivered to two mailboxes gets two envelope ids
// but keeps its Message-ID, so later stages can recognise it.
const ExtraMessageID = "message_id"

// ExtraBusinessType is the Extra key of the business type (业务类型) a
// source filed the complaint under, such as a hotline row's column; the
// case keeps it (router.Case.BusinessType) for agents to search.
const ExtraBusinessType = "business_type"

// Extra keys of the customer's consent to the processing of their personal
// information (个人信息保护法 Art. 14): the version of the privacy notice
// they agreed to and when (RFC 3339, UTC). The web form sets both on every
// complaint; the JSON API when the caller passes the consent it collected.
// The case keeps them (router.Case.Consent).
const (
	ExtraConsentVersion = "consent_version"
	ExtraConsentAt      = "consent_at"
)

// MaxConsentVersionBytes bounds the version of a privacy notice.
const MaxConsentVersionBytes = 32

// ValidConsentVersion says whether v may name a privacy notice's version:
// 1 to MaxConsentVersionBytes bytes on one line.
func ValidConsentVersion(v string) bool {
	return v != "" && len(v) <= MaxConsentVersionBytes && !strings.ContainsFunc(v, func(r rune) bool { return r < ' ' })
}

// Consent is a customer's consent to the processing of their personal
// information: the privacy notice's version and when they agreed.
type Consent struct {
	Version string    `json:"version"`
	At      time.Time `json:"at"`
}

// SetConsent records c on env's Extra.
func SetConsent(env *Envelope, c Consent) {
	if env.Extra == nil {
		env.Extra = map[string]string{}
	}
	env.Extra[ExtraConsentVersion] = c.Version
	env.Extra[ExtraConsentAt] = c.At.UTC().Format(time.RFC3339)
}

// ConsentOf returns the consent recorded in extra (an envelope's or a
// complaint's Extra), or nil when there is none or it is malformed: an
// empty or over-long version, or a time that is not RFC 3339.
func ConsentOf(extra map[string]string) *Consent {
	v := extra[ExtraConsentVersion]
	at, err := time.Parse(time.RFC3339, extra[ExtraConsentAt])
	if !ValidConsentVersion(v) || err != nil {
		return nil
	}
	return &Consent{Version: v, At: at.UTC()}
}

// Publish hands an envelope to the broker. It blocks until the broker
// acknowledged the envelope durably (acks=all) or ctx ended, and is safe for
// concurrent use. An adapter acknowledges its source only after Publish
// returned nil; on error it must leave the source unacknowledged so the
// complaint is offered again.
type Publish func(ctx context.Context, env Envelope) error

// NewID returns the deterministic envelope id for a channel, a source and a
// key that is unique within that source (a source id, an idempotency key or
// a content hash).
func NewID(channel Channel, source, key string) string {
	sum := sha256.Sum256([]byte(string(channel) + "\x00" + source + "\x00" + key))
	return string(channel) + ":" + strings.ToLower(idEncoding.EncodeToString(sum[:15]))
}

// idEncoding is Crockford-style base32 without padding: no I, L, O or U, so
// a reference read out over the phone is not misheard.
var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// References derives the customer-facing reference numbers (受理编号)
// from envelope ids under a key only the installation knows (the server
// secret's "reference" key, the same on every replica). A reference is the
// one secret of a customer's status look-up besides four digits of a phone
// number, so it must not be computable from what others know of the
// complaint: a hotline work-order number, an API Idempotency-Key, a mailbox
// UID. The zero References has no key and cannot be used; make one with
// NewReferences. A References is immutable and safe for concurrent use.
type References struct{ key []byte }

// NewReferences returns the References that derive under key. It panics
// on an empty key.
func NewReferences(key []byte) References {
	if len(key) == 0 {
		panic("ingest: NewReferences with an empty key")
	}
	return References{key: bytes.Clone(key)}
}

// IsZero reports whether r has no key.
func (r References) IsZero() bool { return len(r.key) == 0 }

// Check returns an error for the zero References, for the constructors of
// adapters that mint references.
func (r References) Check() error {
	if r.IsZero() {
		return errors.New("references: no key to derive reference numbers with (the server secret's)")
	}
	return nil
}

// For returns the reference of an envelope id: "TS" and ten characters of
// the HMAC-SHA256 of the id, stable for the same id and key. It panics on
// the zero References.
func (r References) For(id string) string {
	if r.IsZero() {
		panic("ingest: References without a key")
	}
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(id))
	return "TS" + idEncoding.EncodeToString(m.Sum(nil))[:10]
}

// ReferenceFor is the unkeyed derivation of the same format: "TS" and ten
// characters of the SHA-256 of id. Anyone who knows id can compute it, so
// it is no reference for customers (see References); it was theirs before
// references were keyed (those stay valid: look-ups go by the reference
// stored on the case), and it still names batch incidents, which are no
// secret.
func ReferenceFor(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "TS" + idEncoding.EncodeToString(sum[:])[:10]
}

// ContentKey is a key for sources that give no id of their own: a hash of
// the fields that make two submissions the same complaint.
func ContentKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// MaxIdempotencyKeyBytes bounds an Idempotency-Key header.
const MaxIdempotencyKeyBytes = 200

// ValidIdempotencyKey reports whether an Idempotency-Key header is absent
// or made of 1 to MaxIdempotencyKeyBytes visible ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if len(k) > MaxIdempotencyKeyBytes {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Limits on the fields of an envelope, in bytes.
const (
	MaxNameBytes        = 200
	MaxPhoneBytes       = 40
	MaxEmailBytes       = 254
	MaxSubjectBytes     = 500
	MaxDescriptionBytes = 20000
)

// FieldError says which field of a submission is invalid and why, in words
// a customer can read (Simplified Chinese).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks an envelope as every channel must before publishing it
// and returns every problem it finds, at most one per field: texts must be
// UTF-8 within their limits, the description is required, a phone number
// must be one PhoneE164 accepts, an e-mail address one CheckEmail accepts,
// and at least one of them must be given so that the customer can be
// reached.
func (e *Envelope) Validate() []FieldError {
	var errs []FieldError
	check := func(field, value string, max int, required bool, rule func(string) error) {
		switch {
		case !utf8.ValidString(value):
			errs = append(errs, FieldError{field, "包含无法识别的字符，请使用 UTF-8 编码"})
		case required && strings.TrimSpace(value) == "":
			errs = append(errs, FieldError{field, "此项为必填项"})
		case len(value) > max:
			errs = append(errs, FieldError{field, fmt.Sprintf("内容过长，最多 %d 字节", max)})
		case rule != nil && strings.TrimSpace(value) != "":
			var fe *FieldError
			if errors.As(rule(value), &fe) {
				errs = append(errs, *fe)
			}
		}
	}
	phone := func(s string) error {
		_, err := PhoneE164(s)
		return err
	}
	check("name", e.Name, MaxNameBytes, false, nil)
	check("phone", e.Phone, MaxPhoneBytes, false, phone)
	check("email", e.Email, MaxEmailBytes, false, CheckEmail)
	check("subject", e.Subject, MaxSubjectBytes, false, nil)
	check("description", e.Description, MaxDescriptionBytes, true, nil)
	if strings.TrimSpace(e.Phone) == "" && strings.TrimSpace(e.Email) == "" {
		errs = append(errs, FieldError{"phone", "请至少填写手机号码或电子邮箱中的一项，以便我们联系您"})
	}
	return errs
}

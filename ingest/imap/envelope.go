package imap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
)

// Keys of Envelope.Extra set by the e-mail channel.
const (
	// ExtraMessageID is the Message-ID without brackets. The same mail
	// delivered to two mailboxes (or fetched again after a UIDVALIDITY
	// change) has different envelope ids but the same Message-ID.
	ExtraMessageID = ingest.ExtraMessageID
	// ExtraRawSHA256 is the hex SHA-256 of the raw message, a dedupe key
	// for mail without a Message-ID fetched twice from the same mailbox.
	ExtraRawSHA256 = "raw_sha256"
	// ExtraInReplyTo and ExtraReferences are the message ids of those
	// headers, separated by spaces.
	ExtraInReplyTo  = "in_reply_to"
	ExtraReferences = "references"
	// ExtraReplyToReference is a tousu reference number found in the
	// subject: the customer answered a mail about an existing case.
	ExtraReplyToReference = "reply_to_reference"
	// ExtraFrom, ExtraReplyTo and ExtraTo are the header addresses
	// (Envelope.Email is Reply-To when present, else From).
	ExtraFrom    = "from"
	ExtraReplyTo = "reply_to"
	ExtraTo      = "to"
	// ExtraDate is the Date header in RFC 3339 (the envelope's ReceivedAt
	// is when our server received the mail).
	ExtraDate = "date"
	// ExtraHTML is the HTML body sanitised for display; ExtraHTMLOmitted
	// says why it is missing although the mail had HTML (too large).
	ExtraHTML        = "html"
	ExtraHTMLOmitted = "html_omitted"
	// ExtraTextFromHTML is "true" when Description was rendered from HTML.
	ExtraTextFromHTML = ingest.ExtraTextFromHTML
	// ExtraDescriptionTruncated and ExtraSubjectTruncated hold the
	// original length in bytes when the text was cut to the ingest limits.
	ExtraDescriptionTruncated = "description_truncated"
	ExtraSubjectTruncated     = "subject_truncated"
	// ExtraAttachmentsNotStored is a JSON array of {"name", "sha256",
	// "size", "reason"} for attachments listed in Attachments whose content
	// is not in the attachment store (reason too_large, type_not_allowed or
	// no_store).
	ExtraAttachmentsNotStored = "attachments_not_stored"
)

// Reasons of ExtraAttachmentsNotStored.
const (
	NotStoredTooLarge       = "too_large"
	NotStoredTypeNotAllowed = "type_not_allowed"
	NotStoredNoStore        = "no_store"
)

// NoTextDescription is the description of a mail with attachments but no
// text and no subject.
const NoTextDescription = "（邮件无正文，请查看附件）"

// NotStored describes an attachment recorded without its content.
type NotStored struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

// SourceID is the Envelope.SourceID of a message: "<uidvalidity>/<uid>".
func SourceID(uidValidity, uid uint32) string {
	return strconv.FormatUint(uint64(uidValidity), 10) + "/" + strconv.FormatUint(uint64(uid), 10)
}

// EnvelopeID is the deterministic envelope id of a message in a mailbox.
func EnvelopeID(mailbox string, uidValidity, uid uint32) string {
	return ingest.NewID(ingest.ChannelEmail, mailbox, SourceID(uidValidity, uid))
}

// Meta is where a message was read: the mailbox, its UIDVALIDITY, the UID
// and the server's INTERNALDATE (when it received the mail).
type Meta struct {
	Mailbox      string
	UIDValidity  uint32
	UID          uint32
	InternalDate time.Time
}

// ErrInvalid is wrapped by BuildEnvelope when a message cannot become a
// valid envelope (no sender address, no text at all, fields the ingest
// rules reject); such a message is quarantined.
var ErrInvalid = errors.New("message cannot become a complaint")

// BuildEnvelope turns a parsed message into the envelope published for it,
// with the reference refs derives from its id.
// atts are the stored attachment records in the order of p.Attachments
// (nil entries skipped) and notStored describes those without content. It
// is pure: the same input gives the same envelope. Texts longer than the
// ingest limits are cut on a character boundary and the cut is noted in
// Extra. The error wraps ErrInvalid and says what is wrong.
func BuildEnvelope(refs ingest.References, p *Parsed, m Meta, raw []byte, atts []ingest.Attachment, notStored []NotStored) (ingest.Envelope, error) {
	id := EnvelopeID(m.Mailbox, m.UIDValidity, m.UID)
	env := ingest.Envelope{
		V:          ingest.SchemaVersion,
		ID:         id,
		Reference:  refs.For(id),
		Channel:    ingest.ChannelEmail,
		Source:     m.Mailbox,
		SourceID:   SourceID(m.UIDValidity, m.UID),
		ReceivedAt: m.InternalDate.UTC(),
		Extra:      map[string]string{},
	}
	if env.ReceivedAt.IsZero() {
		env.ReceivedAt = p.Date.UTC()
	}
	set := func(k, v string) {
		if v != "" {
			env.Extra[k] = v
		}
	}
	sum := sha256.Sum256(raw)
	set(ExtraRawSHA256, hex.EncodeToString(sum[:]))
	set(ExtraMessageID, truncateUTF8(p.MessageID, 500))
	set(ExtraInReplyTo, truncateUTF8(strings.Join(p.InReplyTo, " "), 1000))
	set(ExtraReferences, lastBytes(p.References, 2000))
	set(ExtraReplyToReference, p.ReplyToReference)
	set(ExtraFrom, truncateUTF8(p.From.Email, 320))
	set(ExtraReplyTo, truncateUTF8(p.ReplyTo.Email, 320))
	var to []string
	for _, a := range p.To {
		to = append(to, a.Email)
	}
	set(ExtraTo, truncateUTF8(strings.Join(to, ", "), 1000))
	if !p.Date.IsZero() {
		set(ExtraDate, p.Date.UTC().Format(time.RFC3339))
	}
	if p.HTML != "" {
		if len(p.HTML) <= MaxHTMLBytes {
			set(ExtraHTML, p.HTML)
		} else {
			set(ExtraHTMLOmitted, fmt.Sprintf("sanitised HTML of %d bytes is larger than %d", len(p.HTML), MaxHTMLBytes))
		}
	}
	if p.TextFromHTML {
		set(ExtraTextFromHTML, "true")
	}
	ingest.SetWarnings(&env, p.Warnings)

	contact := p.From
	if p.ReplyTo.Email != "" {
		contact = p.ReplyTo
		if contact.Name == "" && strings.EqualFold(p.From.Email, contact.Email) {
			contact.Name = p.From.Name
		}
	}
	env.Email = contact.Email
	env.Name = truncateUTF8(contact.Name, ingest.MaxNameBytes)

	env.Subject = p.Subject
	if len(env.Subject) > ingest.MaxSubjectBytes {
		set(ExtraSubjectTruncated, strconv.Itoa(len(env.Subject)))
		env.Subject = truncateUTF8(env.Subject, ingest.MaxSubjectBytes)
	}
	desc := p.Text
	switch {
	case strings.TrimSpace(desc) != "":
	case p.Subject != "":
		desc = p.Subject
	case len(atts) > 0 || len(notStored) > 0:
		desc = NoTextDescription
	}
	if len(desc) > ingest.MaxDescriptionBytes {
		set(ExtraDescriptionTruncated, strconv.Itoa(len(desc)))
		desc = truncateUTF8(desc, ingest.MaxDescriptionBytes)
	}
	env.Description = desc
	env.Attachments = atts
	if len(notStored) > 0 {
		b, _ := json.Marshal(notStored)
		set(ExtraAttachmentsNotStored, string(b))
	}

	if env.Email == "" {
		return env, fmt.Errorf("%w: no sender address (From/Reply-To)", ErrInvalid)
	}
	if errs := env.Validate(); len(errs) > 0 {
		var parts []string
		for _, fe := range errs {
			parts = append(parts, fe.Error())
		}
		return env, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(parts, "; "))
	}
	return env, nil
}

// lastBytes joins ids with spaces, keeping the last ones (the nearest
// ancestors) when the whole list is longer than n bytes.
func lastBytes(ids []string, n int) string {
	s := strings.Join(ids, " ")
	for len(s) > n && len(ids) > 1 {
		ids = ids[1:]
		s = strings.Join(ids, " ")
	}
	return truncateUTF8(s, n)
}

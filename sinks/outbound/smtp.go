package outbound

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/tousu/tousu/router"
)

// maxReferences bounds the References header: the first message of the
// thread and the latest ones, as RFC 5322 (3.6.4) allows trimming it.
const maxReferences = 10

// SMTP is the Transport of e-mail: it sends each message to its customer
// through a Mailer (one SMTP server). Send is safe for concurrent use.
type SMTP struct {
	mailer *Mailer
}

// NewSMTP returns the transport of cfg, provisioned and validated. Its
// password must be resolved (SMTPConfig.ResolveSecrets) when set.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	m, err := NewMailer(cfg)
	if err != nil {
		return nil, err
	}
	return &SMTP{mailer: m}, nil
}

// Name is the sender's configured name.
func (s *SMTP) Name() string { return s.mailer.Name() }

// Send delivers m to its recipient through the SMTP server (see
// Mailer.Send for what is permanent) and returns nil once the server
// accepted it. Errors never contain the recipient's address.
func (s *SMTP) Send(ctx context.Context, m router.Outgoing) error {
	ml, err := s.Mail(m)
	if err != nil {
		return err
	}
	return s.mailer.Send(ctx, ml)
}

// Message is the e-mail of m as the mailer writes it (see Mail).
func (s *SMTP) Message(m router.Outgoing) (*gomail.Msg, error) {
	ml, err := s.Mail(m)
	if err != nil {
		return nil, err
	}
	return s.mailer.Message(ml)
}

// Mail is the mail of m: To the customer with their name, the Message-ID
// the router fixed (or one derived from m.ID, so that a resend carries
// the same), the thread's In-Reply-To and References, and Auto-Submitted
// as AutoSubmitted says. A message that is not an e-mail, or whose
// recipient is not exactly one address, is a permanent error that does
// not quote it.
func (s *SMTP) Mail(m router.Outgoing) (Mail, error) {
	if m.Medium != router.MediumEmail {
		return Mail{}, fmt.Errorf("smtp: message %s: medium %q is not e-mail: %w", m.ID, m.Medium, ErrPermanent)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Address != strings.TrimSpace(m.To) {
		return Mail{}, fmt.Errorf("smtp: message %s: the recipient is not an e-mail address: %w", m.ID, ErrPermanent)
	}
	id := strings.Trim(m.MessageID, "<> ")
	if id == "" {
		id = s.mailer.MessageID(m.ID)
	}
	return Mail{
		To: []mail.Address{{Name: strings.TrimSpace(m.ToName), Address: to.Address}}, Subject: m.Subject, Text: m.Text,
		MessageID: id, InReplyTo: m.InReplyTo, References: m.References, AutoSubmitted: AutoSubmitted(m),
	}, nil
}

// AutoSubmitted is the Auto-Submitted header (RFC 3834) of m, empty for
// none. An agent's reply is written by a person and carries none: the
// customer's auto-responder may answer it and the customer's own answer
// must not be treated as one. An acknowledgement or a "joined" notice is
// "auto-replied" when it answers the customer's mail (it has In-Reply-To),
// else "auto-generated" (it answers a web form or a call). A result
// notice or a survey follows a change of the case, not a message:
// "auto-generated". Either value tells well-behaved responders not to
// answer, so two robots never mail each other in a loop.
func AutoSubmitted(m router.Outgoing) string {
	switch m.Kind {
	case router.MessageReply:
		return ""
	case router.MessageAck, router.MessageJoined:
		if m.InReplyTo != "" {
			return "auto-replied"
		}
	}
	return "auto-generated"
}

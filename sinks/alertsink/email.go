package alertsink

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/outbound"
)

// Email is the sink that mails each notice to the people it concerns:
// the target's All addresses and those of every role the notice notifies
// (EmailConfig.To), in one mail through the target's SMTP server (see
// outbound.Mailer). The mail is the notice in Chinese plain text (see
// EmailMessage), masked (see Masked), with
//
//	Message-ID: <made from the notice id: a retried notice carries the same>
//	X-Tousu-Notice-ID: <notice id>
//	Auto-Submitted: auto-generated
//
// so that mail clients show a retried notice once and auto-responders do
// not answer. The server's acceptance (250 after DATA) is delivery; a 5xx
// reply (a refused recipient, sender, message or login) and a notice
// that reaches no address wrap ErrPermanent; 4xx replies, connection
// failures and timeouts are transient. Logs and errors never show an
// address or the password. Create it with NewEmail; it is safe for
// concurrent use. It does not filter: a Dispatcher applies the target's
// filter.
type Email struct {
	mailer      *outbound.Mailer
	all         []mail.Address
	to          map[string][]mail.Address
	omitExcerpt bool
	consoleURL  string
	log         *zap.Logger
}

// NewEmail returns the e-mail sink of cfg (which it provisions), with its
// password resolved when it has one; consoleURL is Config.ConsoleURL. logger should
// carry a component field.
func NewEmail(cfg EmailConfig, consoleURL string, logger *zap.Logger) (*Email, error) {
	cfg.Provision()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("alertsink: email %s: %w", cfg.Name, err)
	}
	mailer, err := outbound.NewMailer(cfg.SMTP)
	if err != nil {
		return nil, fmt.Errorf("alertsink: email %s: %w", cfg.Name, err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	e := &Email{mailer: mailer, to: map[string][]mail.Address{}, omitExcerpt: cfg.OmitExcerpt,
		consoleURL: strings.TrimRight(consoleURL, "/"), log: logger.With(zap.String("sink", cfg.Name))}
	e.all = addresses(cfg.All)
	for role, list := range cfg.To {
		e.to[role] = addresses(list)
	}
	return e, nil
}

// addresses parses validated addresses.
func addresses(list []string) []mail.Address {
	out := make([]mail.Address, 0, len(list))
	for _, s := range list {
		a, _ := parseAddress(s) // validated
		out = append(out, a)
	}
	return out
}

// recipients are the addresses n goes to: All, then those of each role
// it notifies, in its order, each once.
func (e *Email) recipients(n router.Notice) []mail.Address {
	var out []mail.Address
	seen := map[string]bool{}
	add := func(list []mail.Address) {
		for _, a := range list {
			if key := strings.ToLower(a.Address); !seen[key] {
				seen[key] = true
				out = append(out, a)
			}
		}
	}
	add(e.all)
	for _, role := range n.Notify {
		add(e.to[role])
	}
	return out
}

// Deliver mails n and waits for the server's answer, at most the
// server's timeout per step.
func (e *Email) Deliver(ctx context.Context, n router.Notice) error {
	n = Masked(n)
	if e.omitExcerpt {
		n.Excerpt = ""
	}
	to := e.recipients(n)
	if len(to) == 0 {
		return fmt.Errorf("notice %s names no role with an address: %w", n.ID, ErrPermanent)
	}
	subject, text := EmailMessage(n, e.consoleURL)
	err := e.mailer.Send(ctx, outbound.Mail{
		To: to, Subject: subject, Text: text, MessageID: e.mailer.MessageID("alert:" + n.ID),
		AutoSubmitted: "auto-generated", Headers: map[string]string{HeaderNoticeID: n.ID},
	})
	switch {
	case err == nil:
		e.log.Debug("alert delivered", zap.String("id", n.ID), zap.Int("recipients", len(to)))
		return nil
	case errors.Is(err, outbound.ErrPermanent):
		return fmt.Errorf("mail notice %s to %d recipients: %w: %w", n.ID, len(to), err, ErrPermanent)
	default:
		return fmt.Errorf("mail notice %s to %d recipients: %w", n.ID, len(to), err)
	}
}

// EmailMessage returns the subject and the plain-text body of an alert
// mail for n (which should be masked): the heading, the labelled facts of
// the robots' messages (级别, 工单, 时限, 通知, 原因, 依据, 分类, 处理, 时间;
// see describe) one per line, the excerpt, and the case's console page
// when consoleURL is set. The notice's own texts are put on one line each
// (a line break in a reason cannot start a line of its own).
func EmailMessage(n router.Notice, consoleURL string) (subject, text string) {
	m := describe(n, flat, flat)
	var b strings.Builder
	b.WriteString(m.heading + "\n\n")
	for _, f := range m.fields {
		b.WriteString(f.label + "：" + f.value + "\n")
	}
	if n.Excerpt != "" {
		b.WriteString("\n投诉摘录：\n" + flat(n.Excerpt) + "\n")
	}
	if consoleURL != "" && n.Case != "" {
		b.WriteString("\n在控制台查看工单：" + casePage(consoleURL, n.Case) + "\n")
	}
	b.WriteString("\n——\n本邮件由投诉受理系统自动发送，请勿直接回复。\n")
	return m.subject, b.String()
}

// flat puts s on one line, its runs of white space (line breaks, tabs,
// full-width spaces) made one space.
func flat(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

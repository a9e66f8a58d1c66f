package outbound

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Mail is one plain-text e-mail, as a Mailer sends it: customers'
// messages (see SMTP) and the alerts of sinks/alertsink alike.
type Mail struct {
	// To are the recipients, each with an optional display name. They
	// are never logged and never in an error.
	To []mail.Address
	// Subject and Text are the subject and the text/plain body.
	Subject, Text string
	// MessageID is the Message-ID without angle brackets; empty: go-mail
	// makes a random one (a resend then carries another).
	MessageID string
	// InReplyTo and References thread the mail (ids without brackets).
	InReplyTo  string
	References []string
	// AutoSubmitted is the Auto-Submitted header (RFC 3834), empty for
	// none; when set, X-Auto-Response-Suppress: All goes with it.
	AutoSubmitted string
	// Headers are further header fields (X-Tousu-Notice-ID), with values
	// in UTF-8 (encoded as RFC 2047 where needed).
	Headers map[string]string
}

// Mailer sends mails over one SMTP server (one connection per mail, so it
// holds no connection between mails). It is the one place tousu speaks
// SMTP: it writes the message (From with its display name, UTF-8 subject
// and base64 body, Date) and classifies failures. Send is safe for
// concurrent use. Create it with NewMailer.
type Mailer struct {
	cfg  SMTPConfig
	from *mail.Address
	// tls is the client's TLS configuration: the system's roots unless a
	// test trusts its own server.
	tls *tls.Config
	// now stamps the Date header.
	now func() time.Time
}

// NewMailer returns the mailer of cfg, provisioned and validated. Its
// password must be resolved (SMTPConfig.ResolveSecrets) when set. Errors
// never contain the password.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("smtp: sender %s: %w", cfg.Name, err)
	}
	if cfg.Password.IsSet() && !cfg.Password.Known() {
		return nil, fmt.Errorf("smtp: sender %s: password: not resolved", cfg.Name)
	}
	from, _ := mail.ParseAddress(cfg.From) // Validate checked it
	return &Mailer{cfg: cfg, from: from, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}, now: time.Now}, nil
}

// Name is the server's configured name.
func (m *Mailer) Name() string { return m.cfg.Name }

// MessageID returns a Message-ID (without angle brackets) made from key
// and the domain of the From address: the same key gives the same id, so
// a mail sent again after a failure or a crash carries the same one and
// mail clients show it once.
func (m *Mailer) MessageID(key string) string {
	sum := sha256.Sum256([]byte(key))
	domain := m.from.Address[strings.LastIndexByte(m.from.Address, '@')+1:]
	return "tousu." + hex.EncodeToString(sum[:12]) + "@" + domain
}

// Send delivers ml to all its recipients in one SMTP transaction and
// returns nil once the server accepted it (250 after DATA). A refused
// recipient (any one of them: then none gets it), a refused sender or
// message, failed authentication (any 5xx reply) or a mail that cannot be
// written (no valid address) wrap ErrPermanent; 4xx replies, connection
// failures and timeouts (TLS handshakes included) are temporary. Errors
// are *SMTPError where the server replied, and never contain an address.
func (m *Mailer) Send(ctx context.Context, ml Mail) error {
	msg, err := m.Message(ml)
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(m.cfg.Host, m.options()...)
	if err != nil {
		return fmt.Errorf("smtp: sender %s: %w: %w", m.cfg.Name, err, ErrPermanent)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return classifySMTP(m.cfg.Name, err)
	}
	return nil
}

// options are the go-mail client options of the configuration.
func (m *Mailer) options() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.cfg.Timeout), gomail.WithTLSConfig(m.tls)}
	switch m.cfg.TLS {
	case SMTPImplicit:
		opts = append(opts, gomail.WithSSL())
	case SMTPNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		// The best mechanism the server offers; over tls=none (loopback
		// only) PLAIN, which go-mail otherwise keeps to encrypted links.
		mech := gomail.SMTPAuthAutoDiscover
		if m.cfg.TLS == SMTPNone {
			mech = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password.Reveal()))
	}
	return opts
}

// Message is the e-mail of ml: From the server's sender with its display
// name, To the recipients with their names, the subject RFC 2047-encoded,
// a text/plain; charset=UTF-8 body (base64), the Message-ID, In-Reply-To,
// References, Date, Auto-Submitted and the further headers. No recipient,
// or one that does not parse, is a permanent error that does not quote it.
func (m *Mailer) Message(ml Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingB64), gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(m.from.Name, m.from.Address); err != nil {
		return nil, fmt.Errorf("smtp: sender %s: from: %w: %w", m.cfg.Name, err, ErrPermanent)
	}
	if len(ml.To) == 0 {
		return nil, fmt.Errorf("smtp: sender %s: no recipient: %w", m.cfg.Name, ErrPermanent)
	}
	for i, to := range ml.To {
		if err := msg.AddToFormat(strings.TrimSpace(to.Name), to.Address); err != nil {
			return nil, fmt.Errorf("smtp: sender %s: recipient %d is not an e-mail address: %w", m.cfg.Name, i+1, ErrPermanent)
		}
	}
	msg.Subject(ml.Subject)
	if id := strings.Trim(ml.MessageID, "<> "); id != "" {
		msg.SetMessageIDWithValue(id)
	}
	if ml.InReplyTo != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, angle(ml.InReplyTo))
	}
	if refs := references(ml.References); refs != "" {
		msg.SetGenHeader(gomail.HeaderReferences, refs)
	}
	msg.SetDateWithValue(m.now())
	if ml.AutoSubmitted != "" {
		msg.SetGenHeader(gomail.Header("Auto-Submitted"), ml.AutoSubmitted)
		// Exchange and Outlook answer no out-of-office to it.
		msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	}
	for _, name := range slices.Sorted(maps.Keys(ml.Headers)) {
		msg.SetGenHeader(gomail.Header(name), ml.Headers[name])
	}
	msg.SetBodyString(gomail.TypeTextPlain, ml.Text)
	return msg, nil
}

// angle puts a message id in angle brackets.
func angle(id string) string {
	return "<" + strings.Trim(id, "<> ") + ">"
}

// references is the References header of ids: at most maxReferences, the
// first and the latest, space-separated.
func references(ids []string) string {
	var out []string
	for _, id := range ids {
		if id = strings.Trim(id, "<> "); id != "" {
			out = append(out, angle(id))
		}
	}
	if len(out) > maxReferences {
		out = append(out[:1], out[len(out)-maxReferences+1:]...)
	}
	return strings.Join(out, " ")
}

// SMTPError is a failure reported by an SMTP server: the step that failed,
// the reply code and the enhanced status code (RFC 3463), without the
// server's text, which may quote the recipient's address. Its text is
// Chinese, for the case's timeline and the dead-letter topic.
type SMTPError struct {
	Sender   string
	Step     string
	Code     int
	Enhanced string
}

// Error says which step the server refused, with its codes.
func (e *SMTPError) Error() string {
	code := fmt.Sprint(e.Code)
	if e.Enhanced != "" {
		code += " " + e.Enhanced
	}
	kind := "暂时拒绝"
	if e.Permanent() {
		kind = "拒绝"
	}
	return fmt.Sprintf("邮件服务器（%s）%s%s（%s）", e.Sender, kind, e.Step, code)
}

// Permanent reports a 5xx reply.
func (e *SMTPError) Permanent() bool { return e.Code >= 500 }

// Unwrap makes a permanent SMTPError wrap ErrPermanent.
func (e *SMTPError) Unwrap() error {
	if e.Permanent() {
		return ErrPermanent
	}
	return nil
}

// smtpSteps names the steps of go-mail's send errors in Chinese.
var smtpSteps = map[gomail.SendErrReason]string{
	gomail.ErrSMTPMailFrom:  "发件人",
	gomail.ErrSMTPRcptTo:    "收件人",
	gomail.ErrSMTPData:      "邮件内容",
	gomail.ErrSMTPDataClose: "邮件内容",
	gomail.ErrWriteContent:  "邮件内容",
	gomail.ErrSMTPReset:     "会话重置",
	gomail.ErrConnCheck:     "连接检查",
	gomail.ErrNoUnencoded:   "8位编码",
}

// classifySMTP turns an error of go-mail into an SMTPError when the server
// replied (4xx temporary, 5xx permanent), and any other failure (connect,
// TLS, timeout) into a temporary error naming the server.
func classifySMTP(sender string, err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		step := smtpSteps[se.Reason]
		if step == "" {
			step = "邮件"
		}
		if se.ErrorCode() >= 400 {
			return &SMTPError{Sender: sender, Step: step, Code: se.ErrorCode(), Enhanced: se.EnhancedStatusCode()}
		}
		if se.Reason == gomail.ErrNoUnencoded {
			return fmt.Errorf("邮件服务器（%s）不支持8位编码: %w", sender, ErrPermanent)
		}
		return fmt.Errorf("邮件服务器（%s）在“%s”一步失败: %s", sender, step, se.Reason)
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 {
		// A reply to the greeting, EHLO, STARTTLS or AUTH: no address in it.
		return &SMTPError{Sender: sender, Step: "连接或登录", Code: te.Code, Enhanced: firstWord(te.Msg)}
	}
	return fmt.Errorf("无法连接邮件服务器（%s）: %w", sender, err)
}

// firstWord returns the enhanced status code a reply text starts with
// (5.7.8), or "".
func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	if strings.Count(w, ".") == 2 && strings.Trim(w, "0123456789.") == "" {
		return w
	}
	return ""
}

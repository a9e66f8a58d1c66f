package outbound

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tousu/tousu/router"
)

// maxReferences bounds the References header: the first message of the
// thread and the latest ones, as RFC 5322 (3.6.4) allows trimming it.
const maxReferences = 10

// SMTP is the Transport of e-mail: it sends each message over one SMTP
// server (one connection per message, so it holds no connection between
// messages). Send is safe for concurrent use.
type SMTP struct {
	cfg  SMTPConfig
	from *mail.Address
	// tls is the client's TLS configuration: the system's roots unless a
	// test trusts its own server.
	tls *tls.Config
	// now stamps the Date header.
	now func() time.Time
}

// NewSMTP returns the transport of cfg, provisioned and validated. Its
// password must be resolved (SMTPConfig.ResolveSecrets) when set.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("smtp: sender %s: %w", cfg.Name, err)
	}
	if cfg.Password.IsSet() && !cfg.Password.Known() {
		return nil, fmt.Errorf("smtp: sender %s: password: not resolved", cfg.Name)
	}
	from, _ := mail.ParseAddress(cfg.From) // Validate checked it
	return &SMTP{cfg: cfg, from: from, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}, now: time.Now}, nil
}

// Name is the sender's configured name.
func (s *SMTP) Name() string { return s.cfg.Name }

// Send delivers m to its recipient through the SMTP server and returns
// nil once the server accepted it (250 after DATA). A refused recipient,
// a refused sender or message, failed authentication (any 5xx reply) or a
// message that cannot be written (no valid address) wrap ErrPermanent;
// 4xx replies, connection failures and timeouts (TLS handshakes included)
// are temporary. Errors never contain the recipient's address.
func (s *SMTP) Send(ctx context.Context, m router.Outgoing) error {
	msg, err := s.Message(m)
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(s.cfg.Host, s.options()...)
	if err != nil {
		return fmt.Errorf("smtp: sender %s: %w: %w", s.cfg.Name, err, ErrPermanent)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return classifySMTP(s.cfg.Name, err)
	}
	return nil
}

// options are the go-mail client options of the configuration.
func (s *SMTP) options() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithTLSConfig(s.tls)}
	switch s.cfg.TLS {
	case SMTPImplicit:
		opts = append(opts, gomail.WithSSL())
	case SMTPNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		// The best mechanism the server offers; over tls=none (loopback
		// only) PLAIN, which go-mail otherwise keeps to encrypted links.
		mech := gomail.SMTPAuthAutoDiscover
		if s.cfg.TLS == SMTPNone {
			mech = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password.Reveal()))
	}
	return opts
}

// Message is the e-mail of m: From the sender with its display name, To
// the customer with their name, the subject RFC 2047-encoded, a
// text/plain; charset=UTF-8 body (base64), the Message-ID the router fixed
// (or one derived from m.ID, so that a resend carries the same), the
// thread's In-Reply-To and References, Date, and Auto-Submitted as
// AutoSubmitted says. An address that does not parse is a permanent error
// that does not quote it.
func (s *SMTP) Message(m router.Outgoing) (*gomail.Msg, error) {
	if m.Medium != router.MediumEmail {
		return nil, fmt.Errorf("smtp: message %s: medium %q is not e-mail: %w", m.ID, m.Medium, ErrPermanent)
	}
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingB64), gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(s.from.Name, s.from.Address); err != nil {
		return nil, fmt.Errorf("smtp: sender %s: from: %w: %w", s.cfg.Name, err, ErrPermanent)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Address != strings.TrimSpace(m.To) {
		return nil, fmt.Errorf("smtp: message %s: the recipient is not an e-mail address: %w", m.ID, ErrPermanent)
	}
	if err := msg.AddToFormat(strings.TrimSpace(m.ToName), to.Address); err != nil {
		return nil, fmt.Errorf("smtp: message %s: the recipient is not an e-mail address: %w", m.ID, ErrPermanent)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(s.messageID(m))
	if m.InReplyTo != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, angle(m.InReplyTo))
	}
	if refs := references(m.References); refs != "" {
		msg.SetGenHeader(gomail.HeaderReferences, refs)
	}
	msg.SetDateWithValue(s.now())
	if v := AutoSubmitted(m); v != "" {
		msg.SetGenHeader(gomail.Header("Auto-Submitted"), v)
		// Exchange and Outlook answer no out-of-office to it.
		msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// messageID is m's Message-ID without angle brackets: the router's, or
// one made from the delivery id and the sender's domain.
func (s *SMTP) messageID(m router.Outgoing) string {
	if id := strings.Trim(m.MessageID, "<> "); id != "" {
		return id
	}
	sum := sha256.Sum256([]byte(m.ID))
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	return "tousu." + hex.EncodeToString(sum[:12]) + "@" + domain
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

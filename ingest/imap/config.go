package imap

import (
	"errors"
	"fmt"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	secretpkg "github.com/tousu/tousu/internal/secret"

	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/internal/serverurl"
)

// Transport security modes of MailboxConfig.TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (imaps, port 993)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS (port 143)
	TLSNone     = "none"     // no encryption; needs AllowInsecure
)

// Authentication mechanisms of AuthConfig.Mechanism.
const (
	AuthLogin   = "login"   // the IMAP LOGIN command
	AuthPlain   = "plain"   // SASL PLAIN
	AuthXOAuth2 = "xoauth2" // SASL XOAUTH2 (Microsoft 365, Gmail)
)

// What happens to a message after it was handled (MailboxConfig.After).
const (
	AfterSeen = "seen" // set the \Seen flag and leave it in the folder
	AfterMove = "move" // move it to MoveTo
)

// Defaults of a MailboxConfig.
const (
	DefaultFolder             = "INBOX"
	DefaultPollInterval       = time.Minute
	DefaultMaxAttachmentBytes = 10 << 20
	DefaultMaxMessageBytes    = 25 << 20
)

// Config configures the e-mail channel: any number of mailboxes, each read
// independently of the others.
type Config struct {
	Mailboxes []MailboxConfig `yaml:"mailboxes"`
}

// MailboxConfig is one IMAP mailbox (one folder of one account). The zero
// values of the optional fields, filled by Provision, mean: Port 993 for implicit TLS and 143
// otherwise, TLS implicit, Folder INBOX, PollInterval one minute, Idle on
// (when the server supports it), After seen, MaxAttachmentBytes 10 MiB,
// MaxMessageBytes 25 MiB, AcceptListMail off.
type MailboxConfig struct {
	// Name identifies the mailbox in envelopes (Source), metrics, logs and
	// the state file: 1 to 64 of a-z, 0-9, _ and -.
	Name string `yaml:"name"`
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// TLS is implicit (default), starttls or none. None sends the password
	// in clear text and is accepted only with AllowInsecure.
	TLS           string `yaml:"tls"`
	AllowInsecure bool   `yaml:"allow_insecure"`
	// CACert names a PEM file of CA certificates to trust instead of the
	// system pool (for a server with a private CA).
	CACert string     `yaml:"ca_cert"`
	Auth   AuthConfig `yaml:"auth"`
	// Folder is the folder read for new mail.
	Folder string `yaml:"folder"`
	// PollInterval is the time between two full checks of the folder. With
	// IDLE, new mail is fetched as soon as the server announces it and the
	// full check runs at this interval as a safety net.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Idle uses IMAP IDLE when the server supports it. Default true.
	Idle *bool `yaml:"idle"`
	// After is what happens to a message once it was published (or
	// recorded as not a complaint): seen (set \Seen) or move (to MoveTo).
	After  string `yaml:"after"`
	MoveTo string `yaml:"move_to"`
	// QuarantineFolder receives messages that could not become a complaint
	// (unparseable, no sender address). Empty: they are treated like the
	// others (After).
	QuarantineFolder string `yaml:"quarantine_folder"`
	// MaxAttachmentBytes is the largest attachment whose content is kept in
	// the attachment store; larger ones are recorded without content.
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes"`
	// MaxMessageBytes is the largest message (its RFC822.SIZE) read into
	// memory and parsed. A larger one is quarantined: its raw bytes are
	// streamed to the evidence store (see Reader.SetEvidence), never held
	// in memory whole, and the reason names the size and the limit.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	// AcceptListMail treats mail marked "Precedence: list" as a complaint,
	// for mailboxes fed by a mailing list (a Google Group that forwards
	// customers' mail). Bulk and junk mail, auto-replies and bounces stay
	// non-complaints. Default false: list mail is not a complaint.
	AcceptListMail bool `yaml:"accept_list_mail"`
	// OurAddresses are our own sender addresses: mail from them is not a
	// complaint (it is recorded as ignored). An entry "@example.com" stands
	// for every address of that domain.
	OurAddresses []string `yaml:"our_addresses"`
}

// AuthConfig says how to log in. Username is always required; LOGIN and
// PLAIN take exactly one of Password and PasswordFile, XOAUTH2 exactly one
// of TokenFile and TokenCommand. Files, variables and the command are read
// at every connect, so rotated secrets and refreshed tokens are picked up.
type AuthConfig struct {
	// Mechanism is login (default), plain or xoauth2.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is the password inline, or the file or environment
	// variable holding it.
	Password secretpkg.Secret `yaml:"password"`
	// PasswordFile names a file holding the password (a trailing line
	// break is not part of it).
	PasswordFile string `yaml:"password_file,omitempty"`
	// TokenFile names a file holding an OAuth2 access token (surrounding
	// whitespace ignored), kept fresh by some other process.
	TokenFile string `yaml:"token_file"`
	// TokenCommand is run with /bin/sh -c at every connect; its standard
	// output (trimmed) is the access token.
	TokenCommand string `yaml:"token_command"`
}

// Provision fills the defaults of every mailbox. It opens nothing.
func (c *Config) Provision() {
	for i := range c.Mailboxes {
		c.Mailboxes[i].Provision()
	}
}

// ResolveSecrets makes the password files of every mailbox relative to
// dir (the configuration's directory) and reads each password once, so
// that a missing file or variable is reported by its key before anything
// starts. The passwords are not kept: Reader reads them again at every
// connect, so that a rotated password is picked up.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	var errs []error
	for i := range c.Mailboxes {
		a := &c.Mailboxes[i].Auth
		if a.PasswordFile != "" && !filepath.IsAbs(a.PasswordFile) && dir != "" {
			a.PasswordFile = filepath.Join(dir, a.PasswordFile)
		}
		if a.Password.File != "" && !filepath.IsAbs(a.Password.File) && dir != "" {
			a.Password.File = filepath.Join(dir, a.Password.File)
		}
		if a.Mechanism == AuthXOAuth2 {
			continue
		}
		if _, err := passwordWith(*a, lookupEnv); err != nil {
			errs = append(errs, fmt.Errorf("mailboxes[%d].auth.%w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks every mailbox without touching the network or the file
// system, and reports every problem by its key (mailboxes[1].port: …),
// never a secret. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	seen := make(map[string]bool)
	for i, m := range c.Mailboxes {
		at := fmt.Sprintf("mailboxes[%d]", i)
		errs = append(errs, keypath.Prefix(at, m.Validate())...)
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", at, m.Name))
		}
		seen[m.Name] = true
	}
	return errors.Join(errs...)
}

// Validate checks one mailbox and reports every problem by its key within
// the mailbox (port: …); see Config.Validate.
func (m MailboxConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, serverurl.CheckServer(m.Name, m.Host, m.Port)...)
	switch m.TLS {
	case "", TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !m.AllowInsecure {
			bad("tls: none sends the password unencrypted; set allow_insecure: true to allow it")
		}
	default:
		bad("tls: %q is not implicit, starttls or none", m.TLS)
	}
	a := m.Auth
	if a.Username == "" {
		bad("auth.username: required")
	}
	switch a.Mechanism {
	case "", AuthLogin, AuthPlain:
		if a.Password.IsSet() == (a.PasswordFile != "") {
			bad("auth.password: set exactly one of password and password_file")
		} else if err := a.Password.Check(); err != nil {
			bad("auth.password: %v", err)
		}
		if a.TokenFile != "" || a.TokenCommand != "" {
			bad("auth.mechanism: token_file and token_command need mechanism xoauth2")
		}
	case AuthXOAuth2:
		if (a.TokenFile == "") == (a.TokenCommand == "") {
			bad("auth.token_file: set exactly one of token_file and token_command")
		}
		if a.Password.IsSet() || a.PasswordFile != "" {
			bad("auth.password: password and password_file do not apply to xoauth2")
		}
	default:
		bad("auth.mechanism: %q is not login, plain or xoauth2", a.Mechanism)
	}
	folder := m.folder()
	switch m.After {
	case "", AfterSeen:
		if m.MoveTo != "" {
			bad("move_to: only used with after: move")
		}
	case AfterMove:
		if m.MoveTo == "" {
			bad("move_to: required with after: move")
		} else if sameFolder(m.MoveTo, folder) {
			bad("move_to: must differ from folder %q", folder)
		}
	default:
		bad("after: %q is not seen or move", m.After)
	}
	if m.QuarantineFolder != "" && sameFolder(m.QuarantineFolder, folder) {
		bad("quarantine_folder: must differ from folder %q", folder)
	}
	if m.PollInterval < 0 {
		bad("poll_interval: must not be negative")
	}
	if m.MaxAttachmentBytes < 0 {
		bad("max_attachment_bytes: must not be negative")
	}
	if m.MaxMessageBytes < 0 {
		bad("max_message_bytes: must not be negative")
	}
	for _, a := range m.OurAddresses {
		if !validOurAddress(a) {
			bad("our_addresses: %q is neither an address nor @domain", a)
		}
	}
	return errors.Join(errs...)
}

func validOurAddress(a string) bool {
	if d, ok := strings.CutPrefix(a, "@"); ok {
		return d != "" && !strings.ContainsAny(d, "@ \t")
	}
	p, err := mail.ParseAddress(a)
	return err == nil && p.Address == a
}

// sameFolder compares folder names; INBOX is case-insensitive in IMAP.
func sameFolder(a, b string) bool {
	if strings.EqualFold(a, "INBOX") || strings.EqualFold(b, "INBOX") {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// Provision fills the zero values documented on MailboxConfig. It opens
// nothing.
func (m *MailboxConfig) Provision() {
	if m.TLS == "" {
		m.TLS = TLSImplicit
	}
	if m.Port == 0 {
		m.Port = 143
		if m.TLS == TLSImplicit {
			m.Port = 993
		}
	}
	if m.Auth.Mechanism == "" {
		m.Auth.Mechanism = AuthLogin
	}
	m.Folder = m.folder()
	if m.PollInterval == 0 {
		m.PollInterval = DefaultPollInterval
	}
	if m.Idle == nil {
		on := true
		m.Idle = &on
	}
	if m.After == "" {
		m.After = AfterSeen
	}
	if m.MaxAttachmentBytes == 0 {
		m.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	if m.MaxMessageBytes == 0 {
		m.MaxMessageBytes = DefaultMaxMessageBytes
	}
}

func (m MailboxConfig) folder() string {
	if m.Folder == "" {
		return DefaultFolder
	}
	return m.Folder
}

// EnvPrefix is the prefix of environment variables that declare a mailbox
// as a URL: TOUSU_IMAP_SUPPORT=imap://… declares the mailbox "support".
const EnvPrefix = "TOUSU_IMAP_"

// MailboxesFromEnv returns a mailbox for every TOUSU_IMAP_<NAME>=<url>
// entry of environ (as os.Environ returns it), named <name> in lower case,
// in the order of environ. Empty values are skipped.
func MailboxesFromEnv(environ []string) ([]MailboxConfig, error) {
	var out []MailboxConfig
	var errs []error
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || v == "" {
			continue
		}
		m, err := MailboxFromURL(strings.ToLower(strings.TrimPrefix(k, EnvPrefix)), v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// MailboxFromURL turns a URL into a mailbox named name, for mailboxes
// declared in the environment:
//
//	imap://user:password@127.0.0.1:1143/INBOX?tls=none&poll=2s
//	imaps://support%40example.com:secret@imap.example.com/Complaints
//
// imaps:// means implicit TLS (port 993 by default), imap:// means STARTTLS
// (port 143) unless the query says tls=none, which also allows the
// unencrypted login (the URL states it explicitly). The path is the folder
// (INBOX when empty). Query parameters: tls, poll (a duration), idle (true
// or false), after (seen or move), move_to, quarantine (a folder),
// max_attachment_bytes, max_message_bytes, accept_list_mail (true or
// false), our_addresses (comma-separated), ca_cert, auth (login, plain or
// xoauth2), password_file, token_file, token_command.
// Unknown parameters are an error. The error never contains the password.
func MailboxFromURL(name, rawurl string) (MailboxConfig, error) {
	u, err := serverurl.Parse(rawurl, "imap", "imaps")
	if err != nil {
		return MailboxConfig{}, fmt.Errorf("imap: mailbox %s: %w", name, err)
	}
	m := MailboxConfig{Name: name, Host: u.Host, Port: u.Port, TLS: TLSStartTLS, Folder: u.Path}
	if u.Scheme == "imaps" {
		m.TLS = TLSImplicit
	}
	if u.User != "" {
		m.Auth.Username, m.Auth.Password = u.User, secretpkg.Inline(u.Password)
	}
	var errs []error
	for _, key := range u.Keys() {
		v := u.Query.Get(key)
		switch key {
		case "tls":
			switch {
			case v == TLSNone:
				m.TLS, m.AllowInsecure = TLSNone, true
			case v == TLSStartTLS && u.Scheme == "imaps":
				errs = append(errs, errors.New("tls=starttls conflicts with imaps:// (implicit TLS)"))
			default:
				m.TLS = v
			}
		case "poll":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("poll: %q is not a duration such as 30s", v))
			}
			m.PollInterval = d
		case "idle":
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("idle: %q is not true or false", v))
			}
			m.Idle = &b
		case "after":
			m.After = v
		case "move_to":
			m.MoveTo = v
		case "quarantine":
			m.QuarantineFolder = v
		case "max_attachment_bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("max_attachment_bytes: %q is not a number", v))
			}
			m.MaxAttachmentBytes = n
		case "max_message_bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("max_message_bytes: %q is not a number", v))
			}
			m.MaxMessageBytes = n
		case "accept_list_mail":
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("accept_list_mail: %q is not true or false", v))
			}
			m.AcceptListMail = b
		case "our_addresses":
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					m.OurAddresses = append(m.OurAddresses, a)
				}
			}
		case "ca_cert":
			m.CACert = v
		case "auth":
			m.Auth.Mechanism = v
		case "password_file":
			m.Auth.PasswordFile = v
		case "token_file":
			m.Auth.TokenFile = v
		case "token_command":
			m.Auth.TokenCommand = v
		default:
			errs = append(errs, fmt.Errorf("unknown parameter %q", key))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("imap: mailbox %s: %w", name, err)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("imap: mailbox %s: %w", name, err)
	}
	return m, nil
}

package imap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"

	secretpkg "github.com/tousu/tousu/internal/secret"
)

const secret = "s3cret-Pa55word"

func validMailbox() MailboxConfig {
	return MailboxConfig{
		Name: "support", Host: "imap.example.com",
		Auth: AuthConfig{Username: "support@example.com", Password: secretpkg.Inline(secret)},
	}
}

func TestMailboxValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*MailboxConfig)
		wantErr string // substring; empty means valid
	}{
		{"minimal", func(*MailboxConfig) {}, ""},
		{"bad name", func(m *MailboxConfig) { m.Name = "Support Box" }, "name"},
		{"no host", func(m *MailboxConfig) { m.Host = "" }, "host"},
		{"bad port", func(m *MailboxConfig) { m.Port = 70000 }, "port"},
		{"tls none refused", func(m *MailboxConfig) { m.TLS = TLSNone }, "allow_insecure"},
		{"tls none allowed", func(m *MailboxConfig) { m.TLS, m.AllowInsecure = TLSNone, true }, ""},
		{"bad tls", func(m *MailboxConfig) { m.TLS = "ssl" }, "tls"},
		{"no username", func(m *MailboxConfig) { m.Auth.Username = "" }, "username"},
		{"password and file", func(m *MailboxConfig) { m.Auth.PasswordFile = "/run/pw" }, "exactly one of password"},
		{"no password", func(m *MailboxConfig) { m.Auth.Password = secretpkg.Secret{} }, "exactly one of password"},
		{"bad mechanism", func(m *MailboxConfig) { m.Auth.Mechanism = "cram-md5" }, "mechanism"},
		{"xoauth2 token file", func(m *MailboxConfig) {
			m.Auth = AuthConfig{Mechanism: AuthXOAuth2, Username: "u@example.com", TokenFile: "/run/token"}
		}, ""},
		{"xoauth2 without token", func(m *MailboxConfig) {
			m.Auth = AuthConfig{Mechanism: AuthXOAuth2, Username: "u@example.com"}
		}, "token_file"},
		{"xoauth2 with password", func(m *MailboxConfig) { m.Auth.Mechanism, m.Auth.TokenCommand = AuthXOAuth2, "get-token" }, "do not apply"},
		{"token for login", func(m *MailboxConfig) { m.Auth.TokenFile = "/run/token" }, "need mechanism xoauth2"},
		{"move without move_to", func(m *MailboxConfig) { m.After = AfterMove }, "move_to: required"},
		{"move to the folder itself", func(m *MailboxConfig) { m.After, m.MoveTo = AfterMove, "inbox" }, "must differ"},
		{"move", func(m *MailboxConfig) { m.After, m.MoveTo = AfterMove, "Processed" }, ""},
		{"move_to without move", func(m *MailboxConfig) { m.MoveTo = "Processed" }, "only used with after: move"},
		{"bad after", func(m *MailboxConfig) { m.After = "delete" }, "after"},
		{"quarantine is the folder", func(m *MailboxConfig) { m.Folder, m.QuarantineFolder = "Complaints", "Complaints" }, "quarantine_folder"},
		{"negative poll", func(m *MailboxConfig) { m.PollInterval = -time.Second }, "poll_interval"},
		{"negative max attachment", func(m *MailboxConfig) { m.MaxAttachmentBytes = -1 }, "max_attachment_bytes"},
		{"negative max message", func(m *MailboxConfig) { m.MaxMessageBytes = -1 }, "max_message_bytes"},
		{"max message and list mail", func(m *MailboxConfig) { m.MaxMessageBytes, m.AcceptListMail = 1<<20, true }, ""},
		{"our addresses", func(m *MailboxConfig) { m.OurAddresses = []string{"support@example.com", "@example.com"} }, ""},
		{"bad our address", func(m *MailboxConfig) { m.OurAddresses = []string{"Support <support@example.com>"} }, "our_addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMailbox()
			tt.edit(&m)
			err := m.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
}

func TestConfigValidateDuplicateNames(t *testing.T) {
	c := Config{Mailboxes: []MailboxConfig{validMailbox(), validMailbox()}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	m := validMailbox()
	m.Provision()
	if m.TLS != TLSImplicit || m.Port != 993 || m.Folder != "INBOX" || m.PollInterval != time.Minute ||
		!*m.Idle || m.After != AfterSeen || m.MaxAttachmentBytes != DefaultMaxAttachmentBytes || m.Auth.Mechanism != AuthLogin ||
		m.MaxMessageBytes != 25<<20 || m.AcceptListMail {
		t.Errorf("defaults = %+v", m)
	}
	s := validMailbox()
	s.TLS = TLSStartTLS
	s.Provision()
	if s.Port != 143 {
		t.Errorf("starttls port = %d", s.Port)
	}
}

func TestConfigYAML(t *testing.T) {
	doc := `
mailboxes:
  - name: support
    host: imap.example.com
    tls: starttls
    ca_cert: /etc/tousu/ca.pem
    auth:
      username: support@example.com
      password_file: /run/secrets/imap
    folder: Complaints
    poll_interval: 30s
    idle: false
    after: move
    move_to: Complaints/Done
    quarantine_folder: Complaints/Quarantine
    max_attachment_bytes: 5242880
    max_message_bytes: 52428800
    accept_list_mail: true
    our_addresses: [support@example.com, "@noreply.example.com"]
  - name: m365
    host: outlook.office365.com
    auth:
      mechanism: xoauth2
      username: complaints@contoso.com
      token_command: /usr/local/bin/m365-token
`
	var c Config
	if err := configs.DecodeStrict([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m := c.Mailboxes[0]
	if m.PollInterval != 30*time.Second || m.Idle == nil || *m.Idle || m.MoveTo != "Complaints/Done" || len(m.OurAddresses) != 2 ||
		m.MaxMessageBytes != 50<<20 || !m.AcceptListMail || c.Mailboxes[1].AcceptListMail || c.Mailboxes[1].MaxMessageBytes != 0 {
		t.Errorf("decoded %+v", m)
	}
	if err := configs.DecodeStrict([]byte("mailboxes:\n  - name: x\n    hots: y\n"), &c); err == nil || !strings.Contains(err.Error(), "hots") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestMailboxFromURL(t *testing.T) {
	tests := []struct {
		url     string
		want    func(MailboxConfig) bool
		wantErr string
	}{
		{"imap://user:password@127.0.0.1:1143/INBOX?tls=none&poll=2s", func(m MailboxConfig) bool {
			return m.Host == "127.0.0.1" && m.Port == 1143 && m.TLS == TLSNone && m.AllowInsecure &&
				m.Auth.Username == "user" && m.Auth.Password.Reveal() == "password" && m.Folder == "INBOX" && m.PollInterval == 2*time.Second
		}, ""},
		{"imaps://support%40example.com:p%40ss%2Fw@imap.example.com/Complaints/New", func(m MailboxConfig) bool {
			return m.TLS == TLSImplicit && m.Port == 0 && m.Auth.Username == "support@example.com" &&
				m.Auth.Password.Reveal() == "p@ss/w" && m.Folder == "Complaints/New"
		}, ""},
		{"imap://u:p@mail.example.com?tls=starttls&idle=false&after=move&move_to=Done&quarantine=Bad&our_addresses=a@example.com,@example.org&max_attachment_bytes=100", func(m MailboxConfig) bool {
			return m.TLS == TLSStartTLS && !*m.Idle && m.After == AfterMove && m.MoveTo == "Done" && m.QuarantineFolder == "Bad" &&
				len(m.OurAddresses) == 2 && m.MaxAttachmentBytes == 100 && m.Folder == ""
		}, ""},
		{"imaps://u@outlook.office365.com/INBOX?auth=xoauth2&token_file=/run/token", func(m MailboxConfig) bool {
			return m.Auth.Mechanism == AuthXOAuth2 && m.Auth.TokenFile == "/run/token"
		}, ""},
		{"imap://u:p@h/?max_message_bytes=1048576&accept_list_mail=1", func(m MailboxConfig) bool {
			return m.MaxMessageBytes == 1<<20 && m.AcceptListMail
		}, ""},
		{"imap://u:p@h/?accept_list_mail=false", func(m MailboxConfig) bool { return !m.AcceptListMail && m.MaxMessageBytes == 0 }, ""},
		{"imap://u:p@h/?max_message_bytes=25MB", nil, "max_message_bytes"},
		{"imap://u:p@h/?max_message_bytes=-5", nil, "max_message_bytes: must not be negative"},
		{"imap://u:p@h/?accept_list_mail=sometimes", nil, "accept_list_mail"},
		{"imap://u@h/INBOX", nil, "password"},
		{"imaps://u:p@h/?tls=starttls", nil, "conflicts"},
		{"pop3://u:p@h/", nil, "scheme"},
		{"imap://u:p@h/?poll=soon", nil, "poll"},
		{"imap://u:p@h/?colour=blue", nil, "unknown parameter"},
		{"imap://u:" + secret + "@h:notaport/", nil, "not a valid URL"},
	}
	for _, tt := range tests {
		m, err := MailboxFromURL("support", tt.url)
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the password: %v", err)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("MailboxFromURL(%q) = %v, want error containing %q", tt.url, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("MailboxFromURL(%q): %v", tt.url, err)
			continue
		}
		if m.Name != "support" || !tt.want(m) {
			t.Errorf("MailboxFromURL(%q) = %+v", tt.url, m)
		}
	}
}

func TestMailboxesFromEnv(t *testing.T) {
	got, err := MailboxesFromEnv([]string{
		"PATH=/bin",
		"TOUSU_IMAP_SUPPORT=imap://u:p@127.0.0.1:1143/INBOX?tls=none",
		"TOUSU_IMAP_EMPTY=",
		"TOUSU_TEST_IMAP=imap://x:y@h/",
	})
	if err != nil || len(got) != 1 || got[0].Name != "support" {
		t.Fatalf("MailboxesFromEnv = %+v, %v", got, err)
	}
	if _, err := MailboxesFromEnv([]string{"TOUSU_IMAP_BAD=ftp://h/"}); err == nil || !strings.Contains(err.Error(), "TOUSU_IMAP_BAD") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := loadState(dir, "support", "INBOX")
	if err != nil || s != (State{}) {
		t.Fatalf("missing state = %+v, %v", s, err)
	}
	want := State{Folder: "INBOX", UIDValidity: 3, LastUID: 99, Updated: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := saveState(dir, "support", want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir, "support", "INBOX")
	want.V = stateVersion
	if err != nil || got != want {
		t.Fatalf("loaded %+v, %v; want %+v", got, err, want)
	}
	// A state for another folder is not used.
	if got, _ := loadState(dir, "support", "Complaints"); got != (State{}) {
		t.Errorf("state of another folder used: %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	os.WriteFile(filepath.Join(dir, "support.json"), []byte("{broken"), 0o600)
	if _, err := loadState(dir, "support", "INBOX"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt state: %v", err)
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		auth     AuthConfig
		wantFile string
		wantErr  string
	}{
		{"relative password_file", AuthConfig{Username: "u", PasswordFile: "pw"}, filepath.Join(dir, "pw"), ""},
		{"password as a file", AuthConfig{Username: "u", Password: secretpkg.Secret{File: "pw"}}, filepath.Join(dir, "pw"), ""},
		{"inline", AuthConfig{Username: "u", Password: secretpkg.Inline(secret)}, "", ""},
		{"missing file", AuthConfig{Username: "u", PasswordFile: "/no/such/pw"}, "/no/such/pw", "mailboxes[1].auth.password_file: open /no/such/pw"},
		{"unset variable", AuthConfig{Username: "u", Password: secretpkg.Secret{Env: "TOUSU_TEST_UNSET_PW"}}, "", "mailboxes[1].auth.password: the environment variable TOUSU_TEST_UNSET_PW is not set"},
		{"oauth is not read", AuthConfig{Mechanism: AuthXOAuth2, Username: "u", TokenCommand: "false"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMailbox()
			m.Auth = tt.auth
			c := Config{Mailboxes: []MailboxConfig{validMailbox(), m}}
			err := c.ResolveSecrets(dir, secretpkg.LookupIn(nil))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("ResolveSecrets = %v, want %q", err, tt.wantErr)
			}
			a := c.Mailboxes[1].Auth
			if file := a.PasswordFile + a.Password.File; file != tt.wantFile {
				t.Errorf("password file %q, want %q", file, tt.wantFile)
			}
			if a.Password.Known() && a.Password.Value == "" {
				t.Error("the password was kept: a rotated one would not be read")
			}
		})
	}
}

func TestConfigValidateNamesTheKeyOnce(t *testing.T) {
	bad := validMailbox()
	bad.Name, bad.Port, bad.After = "b", 70000, "delete"
	err := Config{Mailboxes: []MailboxConfig{validMailbox(), bad, validMailbox()}}.Validate()
	want := "mailboxes[1].port: 70000 is not a TCP port\nmailboxes[1].after: \"delete\" is not seen or move\nmailboxes[2].name: \"support\" is used twice"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

package outbound

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/secret"
)

func TestSMTPConfigValidate(t *testing.T) {
	valid := SMTPConfig{Name: "main", Host: "smtp.exmail.qq.com", From: "投诉受理中心 <complaints@example.com>"}
	tests := []struct {
		name string
		edit func(*SMTPConfig)
		want string // "" = valid
	}{
		{name: "valid", edit: func(*SMTPConfig) {}},
		{name: "none to loopback", edit: func(c *SMTPConfig) { c.Host, c.TLS = "127.0.0.1", SMTPNone }},
		{name: "none to localhost", edit: func(c *SMTPConfig) { c.Host, c.TLS = "localhost", SMTPNone }},
		{name: "none to ::1", edit: func(c *SMTPConfig) { c.Host, c.TLS = "::1", SMTPNone }},
		{name: "none to a remote host", edit: func(c *SMTPConfig) { c.TLS = SMTPNone }, want: "tls: none sends mail and password unencrypted and is allowed to a loopback host only"},
		{name: "none to a name that only looks local", edit: func(c *SMTPConfig) { c.Host, c.TLS = "127.0.0.1.nip.io", SMTPNone }, want: "tls: none"},
		{name: "unknown tls", edit: func(c *SMTPConfig) { c.TLS = "ssl" }, want: `tls: "ssl" is not starttls, implicit or none`},
		{name: "bad name", edit: func(c *SMTPConfig) { c.Name = "企业邮箱" }, want: "name: "},
		{name: "no host", edit: func(c *SMTPConfig) { c.Host = " " }, want: "host: required"},
		{name: "bad port", edit: func(c *SMTPConfig) { c.Port = 70000 }, want: "port: 70000"},
		{name: "from without a name", edit: func(c *SMTPConfig) { c.From = "complaints@example.com" }, want: "from: \"complaints@example.com\" has no display name"},
		{name: "from with a full-width bracket", edit: func(c *SMTPConfig) { c.From = "投诉受理中心 ＜complaints@example.com＞" }, want: "from: "},
		{name: "password without a user", edit: func(c *SMTPConfig) { c.Password = secret.Inline("Tc#2026spring") }, want: "username: required with a password"},
		{name: "password twice", edit: func(c *SMTPConfig) {
			c.Username, c.Password = "complaints", secret.Secret{Env: "SMTP_PASS", File: "smtp.pass"}
		}, want: "password: set one of"},
		{name: "pack with version", edit: func(c *SMTPConfig) { c.Packs = []string{"telecom@3"} }, want: `packs: "telecom@3" is not a pack name`},
		{name: "negative timeout", edit: func(c *SMTPConfig) { c.Timeout = -time.Second }, want: "timeout: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "Tc#2026spring"):
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestSMTPProvision(t *testing.T) {
	tests := []struct {
		tls  string
		port int
	}{{"", 587}, {SMTPStartTLS, 587}, {SMTPImplicit, 465}, {SMTPNone, 25}}
	for _, tt := range tests {
		c := SMTPConfig{TLS: tt.tls}
		c.Provision()
		if c.Port != tt.port || c.Timeout != DefaultSMTPTimeout || c.TLS == "" {
			t.Errorf("Provision(tls %q) = port %d, timeout %s, tls %q", tt.tls, c.Port, c.Timeout, c.TLS)
		}
	}
}

func TestSMTPFromURL(t *testing.T) {
	const from = "from=%E6%8A%95%E8%AF%89%E5%8F%97%E7%90%86%E4%B8%AD%E5%BF%83%20%3Ccomplaints%40example.com%3E"
	tests := []struct {
		name, url string
		want      SMTPConfig
		err       string
	}{
		{name: "local relay without auth", url: "smtp://127.0.0.1:10025?tls=none&" + from,
			want: SMTPConfig{Host: "127.0.0.1", Port: 10025, TLS: SMTPNone}},
		{name: "submission with auth", url: "smtp://complaints%40example.com:Tc%232026spring@smtp.exmail.qq.com:587?" + from,
			want: SMTPConfig{Host: "smtp.exmail.qq.com", Port: 587, TLS: SMTPStartTLS, Username: "complaints@example.com"}},
		{name: "smtps", url: "smtps://complaints:Tc%232026spring@smtp.163.com?timeout=10s&packs=telecom,hotel&" + from,
			want: SMTPConfig{Host: "smtp.163.com", Port: 465, TLS: SMTPImplicit, Username: "complaints", Timeout: 10 * time.Second, Packs: []string{"telecom", "hotel"}}},
		{name: "implicit in the query", url: "smtp://smtp.163.com:465?tls=implicit&" + from,
			want: SMTPConfig{Host: "smtp.163.com", Port: 465, TLS: SMTPImplicit}},
		{name: "none to a remote host", url: "smtp://complaints:Tc%232026spring@smtp.163.com:25?tls=none&" + from, err: "tls: none"},
		{name: "no from", url: "smtp://127.0.0.1:10025?tls=none", err: "from: "},
		{name: "from not encoded (go accepts it)", url: "smtp://127.0.0.1:10025?tls=none&from=投诉受理中心 <complaints@example.com>",
			want: SMTPConfig{Host: "127.0.0.1", Port: 10025, TLS: SMTPNone}},
		{name: "unknown parameter", url: "smtp://127.0.0.1:10025?tls=none&starttls=1&" + from, err: `unknown parameter "starttls"`},
		{name: "starttls on smtps", url: "smtps://smtp.163.com?tls=starttls&" + from, err: "conflicts"},
		{name: "another scheme", url: "imap://smtp.163.com?" + from, err: `scheme "imap"`},
		{name: "broken URL with a password", url: "smtp://complaints:Tc#2026spring@smtp.163.com:5%87", err: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SMTPFromURL(EnvSMTPName, tt.url)
			if tt.err != "" || err != nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) || tt.err == "" {
					t.Fatalf("SMTPFromURL = %v, want an error containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "Tc#2026spring") || strings.Contains(err.Error(), "2026spring") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if got.Name != EnvSMTPName || got.Host != tt.want.Host || got.Port != tt.want.Port || got.TLS != tt.want.TLS ||
				got.Username != tt.want.Username || got.From != "投诉受理中心 <complaints@example.com>" ||
				strings.Join(got.Packs, ",") != strings.Join(tt.want.Packs, ",") || (tt.want.Timeout != 0 && got.Timeout != tt.want.Timeout) {
				t.Errorf("SMTPFromURL = %+v, want %+v", got, tt.want)
			}
			if tt.want.Username != "" && got.Password.Reveal() != "Tc#2026spring" {
				t.Errorf("password not taken from the URL")
			}
			if s := got.Password.String(); strings.Contains(s, "2026spring") {
				t.Errorf("the password prints as %q", s)
			}
		})
	}
}

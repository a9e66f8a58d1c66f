package sender

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/sinks/outbound"
)

func TestConfigDecodesProvisionsAndValidates(t *testing.T) {
	const file = `
smtp:
  - name: main
    host: smtp.exmail.qq.com
    username: complaints@example.com
    password: {env: TOUSU_SMTP_PASSWORD}
    from: "投诉受理中心 <complaints@example.com>"
    rate: {per_minute: 100}
  - name: property
    host: 127.0.0.1
    port: 10025
    tls: none
    from: "物业服务中心 <wuye@example.com>"
    packs: [property]
attempts: 3
`
	var c Config
	if err := configs.DecodeStrict([]byte(file), &c); err != nil {
		t.Fatal(err)
	}
	c.Provision()
	if err := c.ResolveSecrets("", func(string) (string, bool) { return "Tc#2026spring", true }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	main, prop := c.SMTP[0], c.SMTP[1]
	if main.Port != 587 || main.TLS != outbound.SMTPStartTLS || main.Rate != (Rate{PerMinute: 100}) || main.Password.Reveal() != "Tc#2026spring" {
		t.Errorf("main = %+v", main)
	}
	if prop.Port != 10025 || prop.Rate != (Rate{PerSecond: DefaultPerSecond}) || prop.Packs[0] != "property" {
		t.Errorf("property = %+v", prop)
	}
	if c.Attempts != 3 || c.MinBackoff != DefaultMinBackoff || c.MaxBackoff != DefaultMaxBackoff || c.Remember != DefaultRemember {
		t.Errorf("config = %+v", c)
	}
	providers, err := Providers(c, nil)
	if err != nil || len(providers) != 2 || providers[1].Name != "smtp:property" || providers[1].Packs[0] != "property" {
		t.Errorf("Providers = %+v, %v", providers, err)
	}
	if err := configs.DecodeStrict([]byte("smtp:\n  - name: main\n    hots: smtp.163.com\n"), &Config{}); err == nil || !strings.Contains(err.Error(), "hots") {
		t.Errorf("a misspelt key decodes: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	smtp := func(name, host, tls string) SMTPSender {
		return SMTPSender{SMTPConfig: outbound.SMTPConfig{Name: name, Host: host, TLS: tls, From: "投诉受理中心 <complaints@example.com>"}}
	}
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{name: "empty", c: Config{}},
		{name: "two senders", c: Config{SMTP: []SMTPSender{smtp("main", "smtp.163.com", ""), smtp("local", "127.0.0.1", "none")}}},
		{name: "twice the same name", c: Config{SMTP: []SMTPSender{smtp("main", "smtp.163.com", ""), smtp("main", "smtp.qq.com", "")}},
			want: []string{`smtp[1].name: "main" is already used by smtp[0]`}},
		{name: "plain text to a remote host", c: Config{SMTP: []SMTPSender{smtp("main", "smtp.163.com", "none")}},
			want: []string{"smtp[0].tls: none sends mail and password unencrypted"}},
		{name: "negative rate", c: Config{SMTP: []SMTPSender{{SMTPConfig: smtp("main", "smtp.163.com", "").SMTPConfig, Rate: Rate{PerMinute: -1}}}},
			want: []string{"smtp[0].rate.per_minute: must not be negative"}},
		{name: "password without user", c: Config{SMTP: []SMTPSender{{SMTPConfig: outbound.SMTPConfig{Name: "main", Host: "smtp.163.com",
			From: "投诉受理中心 <complaints@example.com>", Password: secret.Inline("Tc#2026spring")}}}},
			want: []string{"smtp[0].username: required with a password"}},
		{name: "backoff upside down", c: Config{MinBackoff: time.Minute, MaxBackoff: time.Second}, want: []string{"min_backoff: 1m0s exceeds max_backoff 1s"}},
		{name: "forgets too soon", c: Config{Remember: 24 * time.Hour}, want: []string{"remember: 24h0m0s is shorter than the outbox topic's retention"}},
		{name: "negative attempts", c: Config{Attempts: -1}, want: []string{"attempts: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate = %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "Tc#2026spring") {
				t.Errorf("the error shows the password")
			}
		})
	}
}

// TestConfigSMS: the sms section names the SMS provider beside the SMTP
// senders; Providers makes it the sms medium's provider with its rate, and
// its errors carry the sms key path.
func TestConfigSMS(t *testing.T) {
	const file = `
sms:
  provider: http
  http:
    url: https://sms-relay.internal.example.com/send
    secret: {env: TOUSU_SMS_RELAY_SECRET}
  rate: {per_minute: 600}
`
	var c Config
	if err := configs.DecodeStrict([]byte(file), &c); err != nil {
		t.Fatal(err)
	}
	c.Provision()
	if err := c.ResolveSecrets("", func(string) (string, bool) { return "relay-secret-of-pujiang-2026", true }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	providers, err := Providers(c, nil)
	if err != nil || len(providers) != 1 || providers[0].Medium != "sms" || providers[0].Name != "sms:http" || providers[0].Rate != (Rate{PerMinute: 600}) {
		t.Fatalf("Providers = %+v, %v", providers, err)
	}
	c.SMS.Provider = "tencent"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `sms.provider: unknown provider "tencent"`) {
		t.Fatalf("an unknown provider validates: %v", err)
	}
	if c.FromDomain() != "" {
		t.Errorf("FromDomain without SMTP = %q", c.FromDomain())
	}
	c.SMTP = []SMTPSender{{SMTPConfig: outbound.SMTPConfig{From: "投诉受理中心 <Complaints@Tousu.Example.com>"}}}
	if c.FromDomain() != "tousu.example.com" {
		t.Errorf("FromDomain = %q", c.FromDomain())
	}
}

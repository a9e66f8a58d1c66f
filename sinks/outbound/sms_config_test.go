package outbound

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
)

func TestSMSConfigValidate(t *testing.T) {
	aliyun := func(change func(*AliyunConfig)) SMSConfig {
		c := SMSConfig{Provider: ProviderAliyun, Aliyun: aliyunConfig("")}
		c.Aliyun.Endpoint = DefaultAliyunEndpoint
		change(&c.Aliyun)
		return c
	}
	relay := func(change func(*SMSHTTPConfig)) SMSConfig {
		c := SMSConfig{Provider: ProviderHTTP, HTTP: SMSHTTPConfig{URL: "https://sms-relay.internal.example.com/send", Secret: secret.Secret{Env: "TOUSU_SMS_RELAY_SECRET"}}}
		change(&c.HTTP)
		return c
	}
	tests := []struct {
		name string
		cfg  SMSConfig
		want string // the whole error, "" for valid
	}{
		{"none", SMSConfig{}, ""},
		{"aliyun", aliyun(func(*AliyunConfig) {}), ""},
		{"aliyun from files", aliyun(func(c *AliyunConfig) {
			c.AccessKeyID, c.AccessKeySecret = secret.Secret{File: "/run/secrets/ak-id"}, secret.Secret{Env: "TOUSU_ALIYUN_AK_SECRET"}
		}), ""},
		{"http", relay(func(*SMSHTTPConfig) {}), ""},

		{"unknown provider", SMSConfig{Provider: "tencent"}, `provider: unknown provider "tencent" (known: aliyun, http)`},
		{"no key id", aliyun(func(c *AliyunConfig) { c.AccessKeyID = secret.Secret{} }), "aliyun.access_key_id: required (value, file or env)"},
		{"two sources", aliyun(func(c *AliyunConfig) { c.AccessKeySecret.Env = "X" }),
			"aliyun.access_key_secret: set one of an inline value, a file and an environment variable, not several"},
		{"no sign name", aliyun(func(c *AliyunConfig) { c.SignName = " " }), "aliyun.sign_name: required (the approved signature, e.g. 某某客服)"},
		{"no templates", aliyun(func(c *AliyunConfig) { c.Templates = nil }), "aliyun.templates: at least one message kind needs a template"},
		{"unknown kind", aliyun(func(c *AliyunConfig) { c.Templates["notice"] = AliyunTemplate{Code: "SMS_1234"} }),
			`aliyun.templates.notice: unknown message kind "notice" (known: ack, joined, reply, result, survey)`},
		{"bad code", aliyun(func(c *AliyunConfig) { c.Templates[router.MessageAck] = AliyunTemplate{Code: "模板1"} }),
			`aliyun.templates.ack.code: "模板1" is not a template code (SMS_ and digits)`},
		{"bad variable", aliyun(func(c *AliyunConfig) {
			c.Templates[router.MessageAck] = AliyunTemplate{Code: "SMS_1234", Params: map[string]string{"受理编号": "reference"}}
		}), `aliyun.templates.ack.params: "受理编号": "reference" is not a template variable and a value's name`},
		{"bad endpoint", aliyun(func(c *AliyunConfig) { c.Endpoint = "dysmsapi.aliyuncs.com" }), "aliyun.endpoint: the scheme must be http or https"},
		{"negative timeout", aliyun(func(c *AliyunConfig) { c.Timeout = -time.Second }), "aliyun.timeout: must be positive (0 means 10s)"},
		{"no url", relay(func(c *SMSHTTPConfig) { c.URL = "" }), "http.url: required"},
		{"no secret", relay(func(c *SMSHTTPConfig) { c.Secret = secret.Secret{} }), "http.secret: required (value, file or env)"},
		{"short secret", relay(func(c *SMSHTTPConfig) { c.Secret = secret.Inline("abc123") }), "http.secret: must be at least 16 bytes"},
		{"several", relay(func(c *SMSHTTPConfig) { c.URL, c.Secret = "ftp://relay/x", secret.Secret{} }),
			"http.url: the scheme must be http or https\nhttp.secret: required (value, file or env)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := errText(err); got != tt.want {
				t.Fatalf("Validate = %q, want %q", got, tt.want)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSMSConfigYAML(t *testing.T) {
	const doc = `
provider: aliyun
aliyun:
  access_key_id: {env: TOUSU_ALIYUN_AK_ID}
  access_key_secret: {file: secrets/aliyun-ak-secret}
  sign_name: 浦江通信客服
  templates:
    ack: {code: SMS_468201135}
    reply:
      code: SMS_468201136
      params: {ref: reference, content: text}
`
	var cfg SMSConfig
	if err := configs.DecodeStrict([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := cfg.Aliyun
	if a.Endpoint != DefaultAliyunEndpoint || a.RegionID != "cn-hangzhou" || a.Timeout != DefaultSMSTimeout ||
		a.Templates[router.MessageReply].Params["content"] != "text" || a.AccessKeyID.Env != "TOUSU_ALIYUN_AK_ID" {
		t.Fatalf("decoded %+v", a)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "aliyun-ak-secret"), []byte(testKeySecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := secret.LookupIn([]string{"TOUSU_ALIYUN_AK_ID=" + testKeyID})
	if err := cfg.ResolveSecrets(dir, env); err != nil {
		t.Fatal(err)
	}
	if cfg.Aliyun.AccessKeySecret.Reveal() != testKeySecret || cfg.Aliyun.AccessKeyID.Reveal() != testKeyID {
		t.Fatal("secrets not resolved")
	}
	out, err := configs.Encode(cfg)
	if err != nil || strings.Contains(string(out), testKeySecret) || strings.Contains(string(out), testKeyID) {
		t.Fatalf("printed %s (%v)", out, err)
	}

	var missing SMSConfig
	configs.DecodeStrict([]byte(doc), &missing)
	err = missing.ResolveSecrets(dir, secret.LookupIn(nil))
	if err == nil || !strings.Contains(err.Error(), "aliyun.access_key_id: the environment variable TOUSU_ALIYUN_AK_ID is not set") {
		t.Fatalf("ResolveSecrets = %v", err)
	}

	for _, bad := range []string{"provider: http\nhttp:\n  url: https://x\n  secret_env: S\n", "provider: aliyun\naliyun:\n  templates:\n    ack: {code: SMS_1, text: x}\n"} {
		if err := configs.DecodeStrict([]byte(bad), &SMSConfig{}); err == nil {
			t.Errorf("unknown key accepted:\n%s", bad)
		}
	}
}

func TestNewSMS(t *testing.T) {
	tr, err := NewSMS(SMSConfig{}, nil, nil)
	if err != nil || tr != nil {
		t.Fatalf("no provider: %v, %v; want nil, nil", tr, err)
	}
	t.Setenv("TOUSU_TEST_SMS_RELAY_SECRET", relaySecret)
	cfg := SMSConfig{Provider: ProviderHTTP, HTTP: SMSHTTPConfig{URL: "https://sms-relay.example.com/send", Secret: secret.Secret{Env: "TOUSU_TEST_SMS_RELAY_SECRET"}}}
	cfg.Provision()
	if tr, err := NewSMS(cfg, nil, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := tr.(*SMSHTTP); !ok {
		t.Fatalf("http provider: %T", tr)
	}
	al := SMSConfig{Provider: ProviderAliyun, Aliyun: aliyunConfig(DefaultAliyunEndpoint)}
	if tr, err := NewSMS(al, nil, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := tr.(*Aliyun); !ok {
		t.Fatalf("aliyun provider: %T", tr)
	}
	al.Aliyun.SignName = ""
	if tr, err := NewSMS(al, nil, nil); err == nil || tr != nil || !strings.Contains(err.Error(), "aliyun.sign_name") {
		t.Fatalf("invalid: %v, %v", tr, err)
	}
	unset := SMSConfig{Provider: ProviderHTTP, HTTP: SMSHTTPConfig{URL: "https://sms-relay.example.com/send", Secret: secret.Secret{Env: "TOUSU_TEST_SMS_UNSET"}}}
	if _, err := NewSMS(unset, nil, nil); err == nil || !strings.Contains(err.Error(), "http.secret: the environment variable TOUSU_TEST_SMS_UNSET is not set") {
		t.Fatalf("unset secret: %v", err)
	}
}

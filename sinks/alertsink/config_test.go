package alertsink

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tousu/tousu/configs"
)

func TestConfigValidate(t *testing.T) {
	ok := WebhookConfig{Name: "quality", URL: "https://hooks.example.com/alerts", SecretEnv: "TOUSU_ALERT_SECRET_QUALITY"}
	with := func(change func(*WebhookConfig)) Config {
		w := ok
		change(&w)
		return Config{Webhooks: []WebhookConfig{w}}
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error, "" for valid
	}{
		{"zero", Config{}, ""},
		{"default", DefaultConfig(), ""},
		{"full", with(func(w *WebhookConfig) {
			w.Kinds, w.MinLevel, w.Notify, w.Timeout, w.OmitExcerpt = Kinds, 2, []string{"质量总监"}, 3*time.Second, true
		}), ""},
		{"http", with(func(w *WebhookConfig) { w.URL = "http://10.0.0.5:8080/hook" }), ""},
		{"url from env", with(func(w *WebhookConfig) { w.URL, w.URLEnv = "", "TOUSU_ALERT_URL_QUALITY" }), ""},
		{"unsigned", with(func(w *WebhookConfig) { w.SecretEnv, w.Unsigned = "", true }), ""},
		{"zero timeout is the default", with(func(w *WebhookConfig) { w.Timeout = 0 }), ""},

		{"no name", with(func(w *WebhookConfig) { w.Name = "" }), "webhooks[0].name"},
		{"bad name", with(func(w *WebhookConfig) { w.Name = "Quality Team" }), "webhooks[0].name"},
		{"reserved name", with(func(w *WebhookConfig) { w.Name = "log" }), "reserved"},
		{"duplicate name", Config{Webhooks: []WebhookConfig{ok, ok}}, "webhooks[1].name: \"quality\" is already used by webhooks[0]"},
		{"no url", with(func(w *WebhookConfig) { w.URL = "" }), "url or url_env is required"},
		{"url and url_env", with(func(w *WebhookConfig) { w.URLEnv = "X" }), "not both"},
		{"ftp", with(func(w *WebhookConfig) { w.URL = "ftp://example.com/x" }), "scheme must be http or https"},
		{"relative url", with(func(w *WebhookConfig) { w.URL = "/hook" }), "scheme must be http or https"},
		{"no host", with(func(w *WebhookConfig) { w.URL = "https:///hook" }), "no host"},
		{"unparsable url", with(func(w *WebhookConfig) { w.URL = "https://exa mple.com/%zz" }), "webhooks[0].url"},
		{"bad url_env", with(func(w *WebhookConfig) { w.URL, w.URLEnv = "", "1BAD-NAME" }), "webhooks[0].url_env"},
		{"unsigned by omission", with(func(w *WebhookConfig) { w.SecretEnv = "" }), "webhooks[0].secret_env: required"},
		{"signed and unsigned", with(func(w *WebhookConfig) { w.Unsigned = true }), "not both"},
		{"bad secret_env", with(func(w *WebhookConfig) { w.SecretEnv = "TOUSU SECRET" }), "webhooks[0].secret_env"},
		{"unknown kind", with(func(w *WebhookConfig) { w.Kinds = []string{"escalation", "breach"} }), "unknown kind \"breach\""},
		{"negative level", with(func(w *WebhookConfig) { w.MinLevel = -1 }), "min_level"},
		{"empty role", with(func(w *WebhookConfig) { w.Notify = []string{" "} }), "empty role"},
		{"negative timeout", with(func(w *WebhookConfig) { w.Timeout = -time.Second }), "webhooks[0].timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate passed, want an error with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestConfigErrorsHideURL(t *testing.T) {
	cfg := Config{Webhooks: []WebhookConfig{{Name: "robot", URL: "ftp://example.com/hook?key=TOKEN-12345", SecretEnv: "S"}}}
	err := cfg.Validate()
	if err == nil || strings.Contains(err.Error(), "TOKEN-12345") {
		t.Fatalf("Validate = %v, want an error without the URL's token", err)
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
log: true
webhooks:
  - name: quality
    url: https://hooks.example.com/quality
    secret_env: TOUSU_ALERT_SECRET_QUALITY
    kinds: [escalation]
    min_level: 2
    notify: [质量总监]
    timeout: 5s
  - name: ops
    url_env: TOUSU_ALERT_URL_OPS
    unsigned: true
    omit_excerpt: true
`
	cfg := DefaultConfig()
	if err := configs.DecodeStrict([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	q := cfg.Webhooks[0]
	if !cfg.Log || len(cfg.Webhooks) != 2 || q.Timeout != 5*time.Second || q.MinLevel != 2 ||
		q.Notify[0] != "质量总监" || q.Kinds[0] != "escalation" || !cfg.Webhooks[1].Unsigned || !cfg.Webhooks[1].OmitExcerpt {
		t.Fatalf("decoded %+v", cfg)
	}
	err := configs.DecodeStrict([]byte("webhooks:\n  - name: q\n    secret: abc\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "webhooks[0].secret") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestWebhookYAMLHidesTheURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://oapi.example.com/robot/send?access_token=TOKEN-12345", "https://oapi.example.com/[redacted]"},
		{"https://hooks.example.com/T0/B1/TOKEN-12345", "https://hooks.example.com/[redacted]"},
		{"https://hooks.example.com", "https://hooks.example.com"},
		{"", ""},
	}
	for _, tt := range tests {
		out, err := yaml.Marshal(WebhookConfig{Name: "robot", URL: tt.url, SecretEnv: "S"})
		if err != nil {
			t.Fatal(err)
		}
		var back WebhookConfig
		if err := configs.DecodeStrict(out, &back); err != nil || back.URL != tt.want || back.SecretEnv != "S" || strings.Contains(string(out), "TOKEN") {
			t.Errorf("%s: printed %s (%v), want url %q", tt.url, out, err, tt.want)
		}
	}
}

func TestConfigValidateNamesTheKeyOnce(t *testing.T) {
	ok := WebhookConfig{Name: "a", URL: "https://hooks.example.com/a", Unsigned: true}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Webhooks: []WebhookConfig{ok, {Name: "b", Unsigned: true}}}, "webhooks[1].url: url or url_env is required"},
		{Config{Webhooks: []WebhookConfig{ok, {Name: "b", URL: "https://h/b", Unsigned: true, SecretEnv: "S"}}}, "webhooks[1].secret_env: set secret_env or unsigned: true, not both"},
		{Config{Webhooks: []WebhookConfig{ok, ok}}, "webhooks[1].name: \"a\" is already used by webhooks[0]"},
		{Config{Webhooks: []WebhookConfig{{Name: "log", URL: "https://h/b", SecretEnv: "S", MinLevel: -1}}}, "webhooks[0].name: \"log\" is reserved for the log sink\nwebhooks[0].min_level: must not be negative"},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Validate() = %v, want %q", err, tt.want)
		}
	}
}

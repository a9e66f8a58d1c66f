package alertsink

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/internal/secret"
)

func TestRobotConfigValidate(t *testing.T) {
	ding := RobotConfig{Name: "quality-ding", Kind: RobotDingTalk, URL: secret.Secret{Env: "TOUSU_DINGTALK_URL"}, Secret: secret.Secret{Env: "TOUSU_DINGTALK_SECRET"}}
	wecom := RobotConfig{Name: "ops-wecom", Kind: RobotWeCom, URL: secret.Inline("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + weComKey)}
	with := func(r RobotConfig, change func(*RobotConfig)) Config {
		change(&r)
		return Config{Robots: []RobotConfig{r}}
	}
	same := func(*RobotConfig) {}
	tests := []struct {
		name string
		cfg  Config
		want string // the whole error, "" for valid
	}{
		{"dingtalk", with(ding, same), ""},
		{"dingtalk by keywords", with(ding, func(r *RobotConfig) { r.Secret = secret.Secret{} }), ""},
		{"wecom", with(wecom, same), ""},
		{"filters", with(wecom, func(r *RobotConfig) {
			r.Kinds, r.MinLevel, r.Notify, r.Timeout = Kinds, 1, []string{"值班长"}, 3*time.Second
		}), ""},
		{"console url", Config{ConsoleURL: "https://tousu.example.com", Robots: []RobotConfig{ding}}, ""},

		{"unknown kind", with(wecom, func(r *RobotConfig) { r.Kind = "feishu" }), `robots[0].kind: "feishu": known kinds are dingtalk and wecom`},
		{"no url", with(ding, func(r *RobotConfig) { r.URL = secret.Secret{} }), "robots[0].url: required (value, file or env)"},
		{"bad url", with(wecom, func(r *RobotConfig) {
			r.URL = secret.Inline("qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + weComKey)
		}),
			"robots[0].url: the scheme must be http or https"},
		{"url twice", with(ding, func(r *RobotConfig) { r.URL.File = "/run/secrets/dingtalk-url" }),
			"robots[0].url: set one of an inline value, a file and an environment variable, not several"},
		{"wecom secret", with(wecom, func(r *RobotConfig) { r.Secret = secret.Inline(dingSecret) }), "robots[0].secret: a WeCom robot has no signing secret"},
		{"bad name", with(ding, func(r *RobotConfig) { r.Name = "质量群" }), `robots[0].name: "质量群": names are 1 to 64 of a-z, 0-9, _ and -`},
		{"log name", with(ding, func(r *RobotConfig) { r.Name = "log" }), `robots[0].name: "log" is reserved for the log sink`},
		{"name of a webhook", Config{Webhooks: []WebhookConfig{{Name: "quality-ding", URL: "https://hooks.example.com/a", Unsigned: true}}, Robots: []RobotConfig{ding}},
			`robots[0].name: "quality-ding" is already used by webhooks[0]`},
		{"two robots", Config{Robots: []RobotConfig{wecom, wecom}}, `robots[1].name: "ops-wecom" is already used by robots[0]`},
		{"unknown notice kind", with(wecom, func(r *RobotConfig) { r.Kinds = []string{"breach"} }), `robots[0].kinds: unknown kind "breach" (known: urge, batch, escalation)`},
		{"negative timeout", with(wecom, func(r *RobotConfig) { r.Timeout = -time.Second }), "robots[0].timeout: must be positive (0 means 5s)"},
		{"bad console url", Config{ConsoleURL: "tousu.example.com"}, "console_url: the scheme must be http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, tt.cfg, tt.want, weComKey, dingSecret)
		})
	}
}

func TestRobotConfigYAML(t *testing.T) {
	const doc = `
log: true
console_url: https://tousu.example.com
robots:
  - name: quality-ding
    kind: dingtalk
    url: {env: TOUSU_DINGTALK_URL}
    secret: {file: secrets/dingtalk-secret}
    kinds: [escalation]
    min_level: 2
  - name: ops-wecom
    kind: wecom
    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa
    kinds: [urge, batch]
    omit_excerpt: true
`
	cfg := DefaultConfig()
	if err := configs.DecodeStrict([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, w := cfg.Robots[0], cfg.Robots[1]
	if cfg.ConsoleURL != "https://tousu.example.com" || d.URL.Env != "TOUSU_DINGTALK_URL" || d.Secret.File != "secrets/dingtalk-secret" ||
		d.MinLevel != 2 || d.Timeout != DefaultTimeout || !w.OmitExcerpt || w.Kind != RobotWeCom {
		t.Fatalf("decoded %+v", cfg)
	}
	out, err := configs.Encode(cfg)
	if err != nil || strings.Contains(string(out), weComKey) {
		t.Fatalf("printed %s (%v)", out, err)
	}
	err = cfg.ResolveSecrets(t.TempDir(), secret.LookupIn(nil))
	if err == nil || !strings.Contains(err.Error(), "robots[0].url: the environment variable TOUSU_DINGTALK_URL is not set") || !strings.Contains(err.Error(), "robots[0].secret_file:") {
		t.Fatalf("ResolveSecrets = %v", err)
	}
	if err := configs.DecodeStrict([]byte("robots:\n  - name: a\n    kind: wecom\n    token: x\n"), &cfg); err == nil || !strings.Contains(err.Error(), "robots[0].token") {
		t.Fatalf("unknown key: %v", err)
	}
}

package alertsink

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/sinks/outbound"
)

// qualityMail is the e-mail target of a plant's quality department: its
// relay, the managers of the manufacturing pack's ladder and the
// complaint desk for everything else.
func qualityMail() EmailConfig {
	return EmailConfig{
		Name: "quality-mail",
		SMTP: outbound.SMTPConfig{Host: "smtp.exmail.qq.com", TLS: outbound.SMTPImplicit, Username: "tousu-alerts@zhizao.example.com",
			Password: secret.Secret{Env: "TOUSU_ALERT_SMTP_PASSWORD"}, From: "投诉预警 <tousu-alerts@zhizao.example.com>"},
		To: map[string][]string{
			"品质部负责人": {"品质部 王建国 <wang.jg@zhizao.example.com>"},
			"质量总监":   {"zhou.li@zhizao.example.com", "质量总监秘书 <mishu01@zhizao.example.com>"},
		},
		All: []string{"客服主管 <kefu-zhuguan@zhizao.example.com>"},
	}
}

// checkValidate fails tb unless cfg.Validate reports exactly want ("" for
// valid), without any of secrets.
func checkValidate(tb testing.TB, cfg Config, want string, secrets ...string) {
	tb.Helper()
	got := ""
	if err := cfg.Validate(); err != nil {
		got = err.Error()
	}
	if got != want {
		tb.Fatalf("Validate = %q, want %q", got, want)
	}
	for _, s := range secrets {
		if strings.Contains(got, s) {
			tb.Errorf("the error shows %q", s)
		}
	}
}

func TestEmailConfigValidate(t *testing.T) {
	with := func(change func(*EmailConfig)) Config {
		e := qualityMail()
		change(&e)
		return Config{Email: []EmailConfig{e}}
	}
	same := func(*EmailConfig) {}
	tests := []struct {
		name string
		cfg  Config
		want string // the whole error, "" for valid
	}{
		{"roles and all", with(same), ""},
		{"all only", with(func(e *EmailConfig) { e.To = nil }), ""},
		{"roles only, escalations only", with(func(e *EmailConfig) { e.All, e.Kinds = nil, []string{"escalation"} }), ""},
		{"local relay without tls", with(func(e *EmailConfig) {
			e.SMTP = outbound.SMTPConfig{Host: "127.0.0.1", Port: 25, TLS: outbound.SMTPNone, From: "投诉预警 <tousu@localhost.localdomain>"}
		}), ""},
		{"smtp name is the target's", with(func(e *EmailConfig) { e.SMTP.Name = "quality-mail" }), ""},

		{"no recipient", with(func(e *EmailConfig) { e.To, e.All = nil, nil }),
			"email[0].to: required: the addresses of each role (to: {质量总监: [zhang.wei@example.com]}) or of all notices (all)"},
		{"roles only, every kind", with(func(e *EmailConfig) { e.All = nil }),
			"email[0].all: urges and batch notices name no role and would reach nobody: list their addresses under all, or set kinds: [escalation]"},
		{"roles only, urges too", with(func(e *EmailConfig) { e.All, e.Kinds = nil, []string{"escalation", "urge"} }),
			"email[0].all: urges and batch notices name no role and would reach nobody: list their addresses under all, or set kinds: [escalation]"},
		{"a role without address", with(func(e *EmailConfig) { e.To["总经理"] = nil }), "email[0].to.总经理: no address"},
		{"a role with a space", with(func(e *EmailConfig) { e.To["质量 总监"] = []string{"zhou.li@zhizao.example.com"} }), `email[0].to: "质量 总监" is not a role such as 质量总监`},
		{"comma for a dot", with(func(e *EmailConfig) { e.To["质量总监"][1] = "mishu01@zhizao,example.com" }),
			"email[0].to.质量总监[1]: not an e-mail address such as 张伟 <zhang.wei@example.com> or zhang.wei@example.com"},
		{"name without brackets", with(func(e *EmailConfig) { e.All[0] = "客服主管 kefu-zhuguan@zhizao.example.com" }),
			"email[0].all[0]: not an e-mail address such as 张伟 <zhang.wei@example.com> or zhang.wei@example.com"},
		{"full-width at sign", with(func(e *EmailConfig) { e.All = append(e.All, "zhao.min＠zhizao.example.com") }),
			"email[0].all[1]: not an e-mail address such as 张伟 <zhang.wei@example.com> or zhang.wei@example.com"},
		{"name glued to the address", with(func(e *EmailConfig) { e.All[0] = "赵敏zhao.min@zhizao.example.com" }),
			"email[0].all[0]: not an e-mail address such as 张伟 <zhang.wei@example.com> or zhang.wei@example.com"},
		{"two in one", with(func(e *EmailConfig) { e.All[0] = "kefu@zhizao.example.com; zhao.min@zhizao.example.com" }),
			"email[0].all[0]: not an e-mail address such as 张伟 <zhang.wei@example.com> or zhang.wei@example.com"},
		{"smtp without host", with(func(e *EmailConfig) { e.SMTP.Host = "" }), "email[0].smtp.host: required"},
		{"smtp from without name", with(func(e *EmailConfig) { e.SMTP.From = "tousu-alerts@zhizao.example.com" }),
			`email[0].smtp.from: "tousu-alerts@zhizao.example.com" has no display name (投诉受理中心 <complaints@example.com>)`},
		{"plain text to a remote relay", with(func(e *EmailConfig) { e.SMTP.TLS = outbound.SMTPNone }),
			`email[0].smtp.tls: none sends mail and password unencrypted and is allowed to a loopback host only, not "smtp.exmail.qq.com"`},
		{"password twice", with(func(e *EmailConfig) { e.SMTP.Password.Value = "Zz#2026" }),
			"email[0].smtp.password: set one of an inline value, a file and an environment variable, not several"},
		{"smtp name of its own", with(func(e *EmailConfig) { e.SMTP.Name = "exmail" }), "email[0].smtp.name: leave it out: the server is named after the target (quality-mail)"},
		{"smtp packs", with(func(e *EmailConfig) { e.SMTP.Packs = []string{"manufacturing"} }), "email[0].smtp.packs: alert mail belongs to no pack"},
		{"bad name", with(func(e *EmailConfig) { e.Name = "品质部邮件" }), `email[0].name: "品质部邮件": names are 1 to 64 of a-z, 0-9, _ and -`},
		{"name of a robot", Config{Robots: []RobotConfig{{Name: "quality-mail", Kind: RobotWeCom, URL: secret.Inline("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + weComKey)}},
			Email: []EmailConfig{qualityMail()}}, `email[0].name: "quality-mail" is already used by robots[0]`},
		{"unknown kind", with(func(e *EmailConfig) { e.Kinds = []string{"escalation", "overdue"} }), `email[0].kinds: unknown kind "overdue" (known: urge, batch, escalation)`},
		{"negative level", with(func(e *EmailConfig) { e.MinLevel = -2 }), "email[0].min_level: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, tt.cfg, tt.want, "Zz#2026", "mishu01", "kefu-zhuguan", "zhao.min")
		})
	}
}

func TestEmailConfigYAML(t *testing.T) {
	const doc = `
email:
  - name: quality-mail
    smtp:
      host: smtp.exmail.qq.com
      tls: implicit
      username: tousu-alerts@zhizao.example.com
      password: {env: TOUSU_ALERT_SMTP_PASSWORD}
      from: 投诉预警 <tousu-alerts@zhizao.example.com>
      timeout: 20s
    to:
      品质部负责人: [品质部 王建国 <wang.jg@zhizao.example.com>]
      质量总监: [zhou.li@zhizao.example.com]
    all: [客服主管 <kefu-zhuguan@zhizao.example.com>]
    min_level: 1
    omit_excerpt: true
`
	var cfg Config
	if err := configs.DecodeStrict([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Provision()
	if err := cfg.ResolveSecrets("", func(name string) (string, bool) { return "Zz#2026spring", name == "TOUSU_ALERT_SMTP_PASSWORD" }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := cfg.Email[0]
	if e.SMTP.Name != "quality-mail" || e.SMTP.Port != 465 || e.SMTP.Timeout != 20*time.Second || e.SMTP.Password.Reveal() != "Zz#2026spring" ||
		len(e.To["质量总监"]) != 1 || e.MinLevel != 1 || !e.OmitExcerpt {
		t.Fatalf("decoded %+v", e)
	}
	if f := e.Filter(); f.Notify != nil || f.MinLevel != 1 {
		t.Errorf("with all, the filter keeps every role: %+v", f)
	}
	e.All, e.Kinds = nil, []string{"escalation"}
	if f := e.Filter(); !slices.Equal(f.Notify, []string{"品质部负责人", "质量总监"}) {
		t.Errorf("without all, the filter is the roles of to: %+v", f)
	}

	for _, tt := range []struct{ doc, want string }{
		{"email:\n  - name: q\n    recipients: [a@b.cn]\n", "email[0].recipients"},
		{"email:\n  - name: q\n    smtp: {host: smtp.163.com, pasword: x}\n", "email[0].smtp.pasword"},
	} {
		var c Config
		if err := configs.DecodeStrict([]byte(tt.doc), &c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("unknown key: %v, want %q", err, tt.want)
		}
	}
	var missing Config
	configs.DecodeStrict([]byte(doc), &missing)
	missing.Provision()
	if err := missing.ResolveSecrets("", func(string) (string, bool) { return "", false }); err == nil ||
		err.Error() != "email[0].smtp.password: the environment variable TOUSU_ALERT_SMTP_PASSWORD is not set" {
		t.Errorf("ResolveSecrets without the variable = %v", err)
	}
}

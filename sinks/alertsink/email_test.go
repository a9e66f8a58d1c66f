package alertsink

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/smtptest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/outbound"
)

// breachNotice is the manufacturing pack's level-2 alert: the quality
// handling clock of a customer's complaint about cracked castings ran
// out two hours ago; the customer's text has a mobile number and a
// landline, as customers write them.
func breachNotice() router.Notice {
	return router.Notice{
		V: router.NoticeVersion, ID: "esc:TS20260304-0017:handle:breach+2h", Kind: router.NoticeEscalation,
		At: time.Date(2026, 3, 6, 11, 5, 0, 0, time.UTC), Case: "TS20260304-0017", Level: 2, Clock: "handle", Step: "breach+2h",
		Due: time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC), Notify: []string{"质量总监"},
		Route:    router.Route{Department: "品质部", Queue: "客诉处理"},
		Category: "产品质量", Excerpt: "3月2号到的那批铸件(批号ZJ-0226)有裂纹，退货没人管！！联系我 139 1234 5678 或 0571-86123456 王工",
		Reason: "处理时限已过 2 小时\n仍未处理", Basis: "品质部管理规定 操作说明5）",
	}
}

// urgeNotice is a repeat complaint that joined an open case.
func urgeNotice() router.Notice {
	return router.Notice{
		V: router.NoticeVersion, ID: "urge:TS20260304-0017:C-88f1", Kind: router.NoticeUrge, At: time.Date(2026, 3, 6, 2, 40, 0, 0, time.UTC),
		Case: "TS20260304-0017", Reference: "TS20260306-0003", Urgency: 3, Category: "产品质量",
		Excerpt: "又打电话了，说好周三给答复的，电话13912345678", Reason: "客户第3次催办", Basis: "重复投诉并入原工单",
	}
}

// testEmail is qualityMail sending through the scripted server srv.
func testEmail(tb testing.TB, srv *smtptest.Server, change func(*EmailConfig)) *Email {
	tb.Helper()
	cfg := qualityMail()
	cfg.SMTP = outbound.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(tb), TLS: outbound.SMTPNone, From: "投诉预警 <tousu-alerts@zhizao.example.com>"}
	if change != nil {
		change(&cfg)
	}
	e, err := NewEmail(cfg, "https://tousu.zhizao.example.com/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// checkText fails tb unless text contains every string of want and none
// of not.
func checkText(tb testing.TB, text string, want, not []string) {
	tb.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			tb.Errorf("lacks %q:\n%s", w, text)
		}
	}
	for _, w := range not {
		if strings.Contains(text, w) {
			tb.Errorf("has %q:\n%s", w, text)
		}
	}
}

func TestEmailMessage(t *testing.T) {
	batch := router.Notice{V: 1, ID: "batch:PL0306", Kind: router.NoticeBatch, At: time.Date(2026, 3, 6, 1, 0, 0, 0, time.UTC), Batch: "PL0306",
		Cases: []string{"TS20260306-0001", "TS20260306-0002", "TS20260306-0004"}, Customers: 3, Category: "物业服务",
		Reason: "3 位业主 2 小时内投诉同一楼栋停水", Basis: "批量投诉认定"}
	tests := []struct {
		name    string
		n       router.Notice
		console string
		subject string
		want    []string
		not     []string
	}{
		{"escalation", Masked(breachNotice()), "https://tousu.zhizao.example.com", "【升级预警】工单 TS20260304-0017 第2级 超时 2 小时后", []string{
			"【升级预警】工单 TS20260304-0017\n\n级别：第 2 级\n工单：TS20260304-0017\n",
			"时限：handle，2026-03-06 17:00 到期，超时 2 小时后\n", "通知：质量总监\n",
			"原因：处理时限已过 2 小时 仍未处理\n", "依据：品质部管理规定 操作说明5）\n", "分类：产品质量\n", "处理：品质部 / 客诉处理\n", "时间：2026-03-06 19:05\n",
			"投诉摘录：\n3月2号到的那批铸件(批号ZJ-0226)有裂纹，退货没人管！！",
			"在控制台查看工单：https://tousu.zhizao.example.com/console/cases/TS20260304-0017\n",
			"本邮件由投诉受理系统自动发送，请勿直接回复。",
		}, []string{"1234 5678", "86123456", "####", "- **"}},
		{"a grade's immediate alert", router.Notice{V: 1, ID: "escalation:TS20260306-0009::grade 重大:2", Kind: router.NoticeEscalation,
			Case: "TS20260306-0009", Level: 2, Step: "grade 重大", Notify: []string{"客服中心主任", "分管副总经理"}, Reason: "重大投诉即时通报"}, "",
			"【升级预警】工单 TS20260306-0009 第2级 重大投诉即时通报", []string{"预警环节：重大投诉即时通报\n", "通知：客服中心主任、分管副总经理\n"}, []string{"时限", "grade"}},
		{"urge without console", Masked(urgeNotice()), "", "【催办】工单 TS20260304-0017 收到重复投诉", []string{
			"新投诉受理编号：TS20260306-0003\n", "紧急程度：3\n", "原因：客户第3次催办\n"}, []string{"13912345678", "在控制台"}},
		{"batch", batch, "https://tousu.zhizao.example.com", "【批量投诉】PL0306 3 件工单", []string{
			"规模：3 件工单，3 位客户\n", "工单：TS20260306-0001、TS20260306-0002、TS20260306-0004\n"}, []string{"在控制台", "投诉摘录"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject, text := EmailMessage(tt.n, tt.console)
			if subject != tt.subject {
				t.Errorf("subject %q, want %q", subject, tt.subject)
			}
			checkText(t, text, tt.want, tt.not)
		})
	}
}

func TestEmailDeliversToTheRolesOfTheNotice(t *testing.T) {
	tests := []struct {
		name string
		n    router.Notice
		to   []string
	}{
		{"escalation to the quality director", breachNotice(), []string{"kefu-zhuguan@zhizao.example.com", "zhou.li@zhizao.example.com", "mishu01@zhizao.example.com"}},
		{"escalation to two roles, one address twice", func() router.Notice {
			n := breachNotice()
			n.Notify = []string{"品质部负责人", "质量总监", "总经理"}
			return n
		}(), []string{"kefu-zhuguan@zhizao.example.com", "wang.jg@zhizao.example.com", "zhou.li@zhizao.example.com", "mishu01@zhizao.example.com"}},
		{"urge: no role", urgeNotice(), []string{"kefu-zhuguan@zhizao.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := (&smtptest.Server{}).Start(t)
			e := testEmail(t, srv, func(c *EmailConfig) {
				c.To["总经理"] = []string{"总经理办公室 <ZHOU.LI@zhizao.example.com>"} // the director stands in
			})
			if err := e.Deliver(context.Background(), tt.n); err != nil {
				t.Fatal(err)
			}
			got := srv.Received()
			if len(got) != 1 || !slices.Equal(got[0].To, tt.to) {
				t.Fatalf("mails %d, to %v; want one to %v", len(got), got, tt.to)
			}
			h, text := smtptest.Read(t, []byte(got[0].Data))
			to, _ := h.AddressList("To")
			if len(to) != len(tt.to) || to[0].Name != "客服主管" {
				t.Errorf("To = %v", to)
			}
			subject, want := h.Subject()
			if want != nil || !strings.HasPrefix(subject, "【") {
				t.Errorf("Subject = %q, %v", subject, want)
			}
			for k, want := range map[string]string{"Auto-Submitted": "auto-generated", "X-Tousu-Notice-ID": tt.n.ID} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Name != "投诉预警" {
				t.Errorf("From = %v", from)
			}
			if strings.Contains(got[0].Data, "【") {
				t.Error("Chinese in the raw mail: the subject is not RFC 2047-encoded or the body not base64")
			}
			for _, leak := range []string{"13912345678", "139 1234 5678", "86123456"} {
				if strings.Contains(text, leak) {
					t.Errorf("the mail shows %q:\n%s", leak, text)
				}
			}
		})
	}
}

func TestEmailRetriedNoticeKeepsItsMessageID(t *testing.T) {
	srv := (&smtptest.Server{}).Start(t)
	e := testEmail(t, srv, nil)
	other := breachNotice()
	other.ID = "esc:TS20260304-0017:handle:80%"
	for _, n := range []router.Notice{breachNotice(), breachNotice(), other} {
		if err := e.Deliver(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, m := range srv.Received() {
		h, _ := smtptest.Read(t, []byte(m.Data))
		id, err := h.MessageID()
		if err != nil || !strings.HasSuffix(id, "@zhizao.example.com") {
			t.Fatalf("Message-ID %q, %v", id, err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] == ids[2] {
		t.Errorf("Message-IDs %q: want the retry to repeat the first and another notice to differ", ids)
	}
}

func TestEmailFailures(t *testing.T) {
	tests := []struct {
		name   string
		server *smtptest.Server
		down   bool
		change func(*EmailConfig)
		n      router.Notice
		want   string
	}{
		{name: "a director's mailbox is gone", server: &smtptest.Server{Rcpt: map[string]string{
			"mishu01@zhizao.example.com": "550 5.1.1 <mishu01@zhizao.example.com>: Recipient address rejected: User unknown in local recipient table"}},
			want: "permanent"},
		{name: "greylisted", server: &smtptest.Server{Rcpt: map[string]string{
			"zhou.li@zhizao.example.com": "450 4.7.1 <zhou.li@zhizao.example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/zhizao.example.com.html"}},
			want: "transient"},
		{name: "refused as spam", server: &smtptest.Server{Data: "554 5.7.1 [TS01] Messages from 10.8.0.12 temporarily deferred due to user complaints"}, want: "permanent"},
		{name: "relay queue full", server: &smtptest.Server{Data: "452 4.3.1 Insufficient system storage"}, want: "transient"},
		{name: "wrong password", server: &smtptest.Server{User: "tousu-alerts@zhizao.example.com", Pass: "Zz#2026spring"},
			change: func(c *EmailConfig) {
				c.SMTP.Username, c.SMTP.Password = "tousu-alerts@zhizao.example.com", secret.Inline("Zz#2025autumn")
			}, want: "permanent"},
		{name: "right password", server: &smtptest.Server{User: "tousu-alerts@zhizao.example.com", Pass: "Zz#2026spring"},
			change: func(c *EmailConfig) {
				c.SMTP.Username, c.SMTP.Password = "tousu-alerts@zhizao.example.com", secret.Inline("Zz#2026spring")
			}, want: "ok"},
		{name: "relay down", server: &smtptest.Server{}, down: true, want: "transient"},
		{name: "relay never greets", server: &smtptest.Server{Mute: true}, change: func(c *EmailConfig) { c.SMTP.Timeout = 200 * time.Millisecond }, want: "transient"},
		{name: "no address for the role", server: &smtptest.Server{}, change: func(c *EmailConfig) { c.All, c.Kinds = nil, []string{"escalation"} },
			n: func() router.Notice { n := breachNotice(); n.Notify = []string{"总经理"}; return n }(), want: "permanent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.server.Start(t)
			e := testEmail(t, tt.server, tt.change)
			if tt.down {
				l, _ := net.Listen("tcp", "127.0.0.1:0")
				port := l.Addr().(*net.TCPAddr).Port
				l.Close()
				e = testEmail(t, tt.server, func(c *EmailConfig) { c.SMTP.Port = port })
			}
			n := tt.n
			if n.ID == "" {
				n = breachNotice()
			}
			err := e.Deliver(context.Background(), n)
			if got := outcome(err); got != tt.want {
				t.Fatalf("Deliver = %v (%s), want %s", err, got, tt.want)
			}
			if err == nil {
				return
			}
			t.Logf("Deliver = %v", err)
			for _, leak := range []string{"zhizao.example.com", "mishu01", "zhou.li", "kefu", "Zz#"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows %q", leak)
				}
			}
		})
	}
}

// newTestDispatcher returns the Dispatcher New builds of cfg, provisioned
// and valid, logging to the buffer it returns; it is closed when the test
// ends.
func newTestDispatcher(tb testing.TB, cfg Config) (*Dispatcher, *bytes.Buffer) {
	tb.Helper()
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	var logs bytes.Buffer
	d, err := New(cfg, jsonLogger(&logs), prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d, &logs
}

func TestNewBuildsEmailTargets(t *testing.T) {
	srv := (&smtptest.Server{User: "tousu-alerts@zhizao.example.com", Pass: "Zz#2026spring"}).Start(t)
	t.Setenv("TEST_ALERT_SMTP_PASSWORD", "Zz#2026spring")
	directors := qualityMail()
	directors.Name, directors.All, directors.Kinds, directors.MinLevel = "directors", nil, []string{router.NoticeEscalation}, 2
	directors.SMTP = outbound.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(t), TLS: outbound.SMTPNone, From: "投诉预警 <tousu-alerts@zhizao.example.com>",
		Username: "tousu-alerts@zhizao.example.com", Password: secret.Secret{Env: "TEST_ALERT_SMTP_PASSWORD"}}
	desk := directors
	desk.Name, desk.To, desk.All, desk.Kinds, desk.MinLevel = "desk", nil, []string{"客服值班 <kefu-zhiban@zhizao.example.com>"}, []string{router.NoticeUrge}, 0
	cfg := Config{Email: []EmailConfig{directors, desk}}
	d, logs := newTestDispatcher(t, cfg)
	low := breachNotice()
	low.ID, low.Level, low.Step = "esc:TS20260304-0017:handle:80%", 1, "80%"
	other := breachNotice()
	other.ID, other.Notify = "esc:TS20260304-0021:handle:breach+2h", []string{"部门第一负责人"}
	for _, n := range []router.Notice{breachNotice(), low, other, urgeNotice()} {
		if err := d.Deliver(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
	}
	got := srv.Received()
	if len(got) != 2 || !slices.Equal(got[0].To, []string{"zhou.li@zhizao.example.com", "mishu01@zhizao.example.com"}) ||
		!slices.Equal(got[1].To, []string{"kefu-zhiban@zhizao.example.com"}) {
		t.Fatalf("the server took %+v; want the level-2 alert to the director and the urge to the desk", got)
	}
	for _, leak := range []string{"Zz#", "zhou.li", "kefu-zhiban", "13912345678"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the log shows %q: %s", leak, logs.String())
		}
	}

	t.Setenv("TEST_ALERT_SMTP_PASSWORD", "")
	only := Config{Email: []EmailConfig{directors}}
	only.Provision()
	if _, err := New(only, nil, nil); err == nil || err.Error() != "alertsink: email[0].smtp.password: the environment variable TEST_ALERT_SMTP_PASSWORD is not set" {
		t.Fatalf("New without the password: %v", err)
	}
}

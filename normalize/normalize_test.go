package normalize

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
)

func TestCleanText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"full-width digits and letters", "订单号ＯＲＤ１２３４５，金额１００元", "订单号ORD12345，金额100元"},
		{"chinese punctuation kept", "你好，世界！", "你好，世界！"},
		{"ideographic space", "信号\u3000差", "信号 差"},
		{"whitespace collapsed", "  a \t b  \r\n\r\n\r\n\r\n c ", "a b\n\nc"},
		{"control characters dropped", "a\x00b\x07c\ufeff", "abc"},
		{"tags in plain text kept", "登录提示 <password> 错误，<price>100元</price>", "登录提示 <password> 错误，<price>100元</price>"},
		{"html-like words kept", "客服说<b>会回电</b>，结果<p>没人打来", "客服说<b>会回电</b>，结果<p>没人打来"},
		{"pasted markup kept", "短信内容：<a href=\"http://x.cn\">点此领取</a>　详情见<br>附件", "短信内容：<a href=\"http://x.cn\">点此领取</a> 详情见<br>附件"},
		{"plain text with angle bracket", "a < b and c > d", "a < b and c > d"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CleanText(tt.in); got != tt.want {
				t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func envelope(tb testing.TB) ingest.Envelope {
	tb.Helper()
	id := ingest.NewID(ingest.ChannelAPI, "", "k1")
	return ingest.Envelope{
		V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Name:       " 张三 ", Phone: "138 0013 8000", Email: "Zhang.San@Example.COM",
		Subject: "信号差", Description: "手机信号差了三天，\r\n打１００００没人管",
	}
}

func TestNormalize(t *testing.T) {
	c, err := Normalize(envelope(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Customer.Phone != "+8613800138000" || c.Customer.Email != "zhang.san@example.com" || c.Customer.Name != "张三" {
		t.Errorf("customer = %+v", c.Customer)
	}
	if c.Customer.Key != "phone:+8613800138000" {
		t.Errorf("key = %q", c.Customer.Key)
	}
	if c.Description != "手机信号差了三天，\n打10000没人管" {
		t.Errorf("description = %q", c.Description)
	}
	if c.V != SchemaVersion {
		t.Errorf("v = %d", c.V)
	}
}

func TestNormalizeKeepsUnreadableContact(t *testing.T) {
	env := envelope(t)
	env.Phone, env.Email = "call me", "not an email"
	c, err := Normalize(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Customer.Phone != "" || c.Extra["phone_raw"] != "call me" || c.Extra["email_raw"] != "not an email" {
		t.Errorf("complaint = %+v", c)
	}
	if c.Customer.Key != "anonymous:"+env.ID {
		t.Errorf("key = %q", c.Customer.Key)
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := map[string]func(*ingest.Envelope){
		"wrong version": func(e *ingest.Envelope) { e.V = 99 },
		"no id":         func(e *ingest.Envelope) { e.ID = "" },
		"no text":       func(e *ingest.Envelope) { e.Subject, e.Description = " ", "\u3000" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			env := envelope(t)
			mutate(&env)
			if _, err := Normalize(env); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"<p>你好</p>", "ＡＢＣ１２３", "a\r\nb", "<script>", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := CleanText(s)
		if CleanText(out) != out {
			t.Errorf("CleanText not idempotent on %q: %q then %q", s, out, CleanText(out))
		}
	})
}

// FuzzAcceptedContact checks the promise intake makes: an envelope it
// accepts with a phone number or an e-mail address normalizes to a
// customer who can be contacted on it, never to an anonymous one.
func FuzzAcceptedContact(f *testing.F) {
	for _, s := range []struct {
		phone, email string
		areaCode     bool
	}{
		{"138 0013 8000", "", false}, {"62345678", "", true}, {"62345678", "", false}, {"1380013800", "", false},
		{"（０１０）６２３４ ５６７８", "", false}, {"+852 2123 4567", "", false}, {"400-888-8888", "", false},
		{"", "Zhang.San@Example.COM", false}, {"", " li@example.com ", false}, {"+86 62345678", "x@y.cn", true},
	} {
		f.Add(s.phone, s.email, s.areaCode)
	}
	f.Fuzz(func(t *testing.T, phone, email string, areaCode bool) {
		env := envelope(t)
		env.Phone, env.Email = phone, email
		intake := ingest.Config{}
		if areaCode {
			intake.DefaultAreaCode = "010"
		}
		if errs := intake.Check(&env); len(errs) > 0 {
			return
		}
		c, err := Normalize(env)
		if err != nil {
			t.Fatalf("accepted envelope (phone %q, email %q) not normalized: %v", phone, email, err)
		}
		if strings.TrimSpace(phone) != "" && c.Customer.Phone == "" {
			t.Fatalf("accepted phone %q (as %q) lost: customer %+v", phone, env.Phone, c.Customer)
		}
		if strings.TrimSpace(email) != "" && c.Customer.Email == "" {
			t.Fatalf("accepted e-mail %q lost: customer %+v", email, c.Customer)
		}
		if strings.HasPrefix(c.Customer.Key, "anonymous:") {
			t.Fatalf("accepted contact (phone %q, email %q) became anonymous", phone, email)
		}
	})
}

func TestNormalizeLandline(t *testing.T) {
	env := envelope(t)
	env.Phone, env.Email = "62345678", ""
	if errs := (ingest.Config{DefaultAreaCode: "010"}).Check(&env); len(errs) > 0 {
		t.Fatal(errs)
	}
	c, err := Normalize(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Customer.Phone != "+861062345678" || c.Customer.Key != "phone:+861062345678" || c.Extra[ingest.ExtraPhoneAreaCode] != "010" {
		t.Errorf("customer %+v, extra %v", c.Customer, c.Extra)
	}
}

func TestSeenKeys(t *testing.T) {
	mail := func(id, mailbox string) Complaint {
		return Complaint{ID: id, Channel: ingest.ChannelEmail, Source: mailbox,
			Customer: Customer{Email: "a@example.com"}, Extra: map[string]string{ingest.ExtraMessageID: "m1@example.com"}}
	}
	a, b := SeenKeys(mail("email:1", "support")), SeenKeys(mail("email:2", "sales"))
	if len(a) != 2 || a[1] != b[1] || a[0] == b[0] {
		t.Errorf("keys %v and %v: want different ids and one shared Message-ID key", a, b)
	}
	other := mail("email:3", "support")
	other.Customer.Email = "b@example.com"
	if SeenKeys(other)[1] == a[1] {
		t.Error("the same Message-ID from another sender must not count as seen")
	}
	if keys := SeenKeys(Complaint{ID: "api:1", Channel: ingest.ChannelAPI, Extra: map[string]string{ingest.ExtraMessageID: "x"}}); len(keys) != 1 {
		t.Errorf("non-mail keys = %v, want the id only", keys)
	}
}

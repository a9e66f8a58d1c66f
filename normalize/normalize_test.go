package normalize

import (
	"errors"
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
		{"html to text", "<html><head><style>p{}</style></head><body><p>第一段</p><p>第二段<br>换行</p><script>x()</script></body></html>", "第一段\n\n第二段\n换行"},
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

func TestPhoneE164(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13800138000", "+8613800138000"},
		{"138 0013 8000", "+8613800138000"},
		{"１３８００１３８０００", "+8613800138000"},
		{"+86 138-0013-8000", "+8613800138000"},
		{"008613800138000", "+8613800138000"},
		{"8613800138000", "+8613800138000"},
		{"010-12345678", "+861012345678"},
		{"(0755)12345678", "+8675512345678"},
		{"4008123123", "+864008123123"},
		{"+1 415 555 2671", "+14155552671"},
		{"+852 2123 4567", "+85221234567"},
	}
	for _, tt := range tests {
		got, err := PhoneE164(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("PhoneE164(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "abc", "12345", "1380013800099999", "+0123", "13800138000x", "++8613800138000"} {
		if got, err := PhoneE164(bad); !errors.Is(err, ErrBadPhone) {
			t.Errorf("PhoneE164(%q) = %q, %v; want ErrBadPhone", bad, got, err)
		}
	}
}

func envelope(tb testing.TB) ingest.Envelope {
	tb.Helper()
	id := ingest.NewID(ingest.ChannelAPI, "", "k1")
	return ingest.Envelope{
		V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Name:       " 张三 ", Phone: "138 0013 8000", Email: "Zhang.San@Example.COM",
		Subject: "信号差", Description: "手机信号差了三天，<br>打１００００没人管",
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
		if CleanText(out) != out && !looksLikeHTML(out) {
			t.Errorf("CleanText not idempotent on %q: %q then %q", s, out, CleanText(out))
		}
	})
}

func FuzzPhoneE164(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 10 1234 5678", "００８６１３８００１３８０００", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := PhoneE164(s)
		if err != nil {
			return
		}
		if p[0] != '+' || len(p) < 9 || len(p) > 16 {
			t.Fatalf("PhoneE164(%q) = %q, not E.164", s, p)
		}
		if again, err := PhoneE164(p); err != nil || again != p {
			t.Fatalf("PhoneE164(%q) = %q, %v; want it unchanged", p, again, err)
		}
	})
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

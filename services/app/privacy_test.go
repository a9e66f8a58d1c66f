package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/alertsink"
	"github.com/tousu/tousu/sinks/caseindex"

	"github.com/tousu/tousu/internal/secret"
)

// Tokens of the privacy test.
const (
	privacyAgent      = "privacy-agent-token-0123456789"
	privacySupervisor = "privacy-supervisor-token-0123456789"
)

// privacyComplaint holds, besides the customer's own phone, an ID card
// number, a bank card number, a second phone and an e-mail address, next
// to an order number, a date and an amount an agent needs. 曝光 grades it
// 重大, which alerts the supervisor's webhook at once.
const privacyComplaint = "我要找记者曝光！身份证11010519491231002X，退款打到卡号6222021234567894，" +
	"或打我另一个电话139-1234-5678，邮件zhang.san@example.com。订单号20260311123456789012，2026-03-11付款1380.00元。"

// privacySecrets are what an agent must read nowhere: the customer's
// phone and key, the numbers and the address of privacyComplaint.
var privacySecrets = []string{"13800138000", "phone:", "11010519491231002X", "6222021234567894", "13912345678", "1234-5678", "zhang.san", "张三"}

// TestPersonalDataThroughTheConsole: an agent reads a case and its search
// hit with the customer's key opaque and every phone, ID card and bank
// card number and e-mail address masked, order number, date and amount
// intact; a supervisor reads the text in full with the same opaque key;
// the supervisor's alert carries the excerpt masked.
func TestPersonalDataThroughTheConsole(t *testing.T) {
	receiver, hook := supervisorHook(t)
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Auth.Tokens = append(c.Auth.Tokens,
			httpapi.Token{Name: "1001", Token: secret.Inline(privacyAgent), Role: httpapi.RoleAgent},
			httpapi.Token{Name: "boss", Token: secret.Inline(privacySupervisor), Role: httpapi.RoleSupervisor})
		c.Alerts.Webhooks = []alertsink.WebhookConfig{hook}
	})
	var sub struct{ Reference string }
	body := map[string]string{"name": "张三", "phone": "13800138000", "subject": "宽带投诉", "description": privacyComplaint}
	if code := r.api(t, http.MethodPost, "/api/v1/complaints", body, nil, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	c := r.waitCase(t, sub.Reference, func(router.Case) bool { return true })

	tests := []struct {
		name, token string
		masked      bool
	}{
		{"agent", privacyAgent, true},
		{"supervisor", privacySupervisor, false},
	}
	keys := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/cases/" + c.ID, "/api/v1/cases?" + url.Values{"q": {"订单号"}}.Encode()} {
				var raw json.RawMessage
				if code := r.apiAs(t, tt.token, http.MethodGet, path, nil, nil, &raw); code != http.StatusOK {
					t.Fatalf("GET %s: %d", path, code)
				}
				got := caseFrom(t, path, raw)
				keys[got.Customer.Key] = true
				if !strings.HasPrefix(got.Customer.Key, "c_") || strings.Contains(string(raw), "phone:") {
					t.Errorf("GET %s: customer key %q, want an opaque token and no raw key in %s", path, got.Customer.Key, raw)
				}
				for _, keep := range []string{"20260311123456789012", "2026-03-11", "1380.00元"} {
					if !strings.Contains(got.Description, keep) {
						t.Errorf("GET %s: %q is gone from %q", path, keep, got.Description)
					}
				}
				if !tt.masked {
					if got.Description != privacyComplaint || got.Customer.Phone != "+8613800138000" || got.Customer.Name != "张三" {
						t.Errorf("GET %s: the supervisor reads %q, %+v", path, got.Description, got.Customer)
					}
					continue
				}
				for _, s := range privacySecrets {
					if strings.Contains(string(raw), s) {
						t.Errorf("GET %s: the agent reads %q in %s", path, s, raw)
					}
				}
				if got.Customer.Phone != "138****8000" || !strings.Contains(got.Description, "110***********002X") || !strings.Contains(got.Description, "z***@example.com") {
					t.Errorf("GET %s: the agent reads %q, %+v", path, got.Description, got.Customer)
				}
			}
		})
	}
	if len(keys) != 1 {
		t.Errorf("the customer has the tokens %v, want one for every role and request", keys)
	}

	polltest.Until(t, "the grade alert at the supervisor's webhook", func() bool { return len(receiver.escalations(c.ID)) > 0 })
	n := receiver.escalations(c.ID)[0]
	for _, s := range privacySecrets {
		if strings.Contains(n.Excerpt, s) {
			t.Errorf("the alert's excerpt shows %q: %q", s, n.Excerpt)
		}
	}
	if !strings.Contains(n.Excerpt, "110***********002X") {
		t.Errorf("the alert's excerpt %q", n.Excerpt)
	}
}

// caseFrom decodes the case of a GET of a case, or the single hit of a
// search.
func caseFrom(tb testing.TB, path string, raw json.RawMessage) router.Case {
	tb.Helper()
	if !strings.Contains(path, "?") {
		var c router.Case
		if err := json.Unmarshal(raw, &c); err != nil {
			tb.Fatal(err)
		}
		return c
	}
	var res caseindex.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		tb.Fatal(err)
	}
	if len(res.Hits) != 1 {
		tb.Fatalf("GET %s: %d hits, want 1", path, len(res.Hits))
	}
	return res.Hits[0]
}

package app

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tousu/tousu/services/httpapi"

	"github.com/tousu/tousu/internal/secret"
)

// TestIdempotencyKeysPerAccount checks, through the whole process, that
// an Idempotency-Key is scoped by the API token's account: another
// account's equal key is a complaint of its own, and the same account's
// key with other content is refused with 409. A monitoring system's
// token submits nothing (401).
func TestIdempotencyKeysPerAccount(t *testing.T) {
	const partnerToken = "partner-intake-token-0123456789"
	const monitorToken = "prometheus-monitor-token-0123456789"
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Auth.Tokens = append(c.Auth.Tokens, httpapi.Token{Name: "partner", Token: secret.Inline(partnerToken), Role: httpapi.RoleIntake},
			httpapi.Token{Name: "prometheus", Token: secret.Inline(monitorToken), Role: httpapi.RoleMonitor})
	})
	submit := func(token, description string) (int, string) {
		t.Helper()
		var out struct{ Reference, Error string }
		body := map[string]string{"phone": "13912345678", "description": description}
		code := r.apiAs(t, token, http.MethodPost, "/api/v1/complaints", body, map[string]string{"Idempotency-Key": "order-42"}, &out)
		return code, out.Reference
	}
	code, admin := submit(testToken, "宽带断网一整天")
	if code != http.StatusAccepted {
		t.Fatalf("admin: %d", code)
	}
	if code, partner := submit(partnerToken, "手机信号差了三天"); code != http.StatusAccepted || partner == admin {
		t.Fatalf("partner with the admin's key: %d, reference %s (admin's %s)", code, partner, admin)
	}
	if code, ref := submit(testToken, "另一件事"); code != http.StatusConflict || ref != "" {
		t.Fatalf("admin's key with other content: %d %s, want 409", code, ref)
	}
	if code, ref := submit(monitorToken, "监控令牌不该能提交：话费多扣了３８元"); code != http.StatusForbidden || ref != "" {
		t.Fatalf("monitor token: %d %s, want 403", code, ref)
	}
	r.waitFor(t, url.Values{"channel": {"api"}}, 2)
}

package httpapi

import (
	"net/http"
	"testing"

	"github.com/tousu/tousu/router"
)

// TestRevealAPI: an agent's token reveals the customer's phone of a case
// it may see, answered with the number and audited by one reveal action
// (who, which contact; no value); a supervisor, who sees it anyway, gets
// it without an audit; a contact the customer has not, ops, and a reveal
// sent as a plain action are refused and audit nothing.
func TestRevealAPI(t *testing.T) {
	const (
		agent      = "agent-token-0123456789"
		supervisor = "supervisor-token-0123456789"
	)
	tests := []struct {
		name, token, path string
		body              map[string]string
		code              int
		value             string
		audited           bool
	}{
		{"an agent reveals the phone", agent, "/api/v1/cases/TS1/reveal", map[string]string{"field": "phone"}, http.StatusOK, "+8613800138000", true},
		{"a supervisor sees it anyway", supervisor, "/api/v1/cases/TS1/reveal", map[string]string{"field": "phone"}, http.StatusOK, "+8613800138000", false},
		{"no e-mail address to reveal", agent, "/api/v1/cases/TS1/reveal", map[string]string{"field": "email"}, http.StatusUnprocessableEntity, "", false},
		{"an ID-card number is no contact", agent, "/api/v1/cases/TS1/reveal", map[string]string{"field": "id_card"}, http.StatusUnprocessableEntity, "", false},
		{"an unknown case", agent, "/api/v1/cases/TS404/reveal", map[string]string{"field": "phone"}, http.StatusNotFound, "", false},
		{"an intake token", "intake-token-0123456789", "/api/v1/cases/TS1/reveal", map[string]string{"field": "phone"}, http.StatusForbidden, "", false},
		{"a reveal as a plain action shows nothing", agent, "/api/v1/cases/TS1/actions", map[string]string{"kind": "reveal", "field": "phone"}, http.StatusUnprocessableEntity, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t, nil)
			code, out := as.request(t, http.MethodPost, tt.path, tt.token, tt.body)
			if code != tt.code || tt.value != "" && out["value"] != tt.value {
				t.Fatalf("POST %s = %d %v, want %d with %q", tt.path, code, out, tt.code, tt.value)
			}
			if code != http.StatusOK && (out["value"] != nil || !hasHan(out["message"].(string))) {
				t.Errorf("refusal %v: want a Chinese message and no value", out)
			}
			if !tt.audited {
				if len(as.published) != 0 {
					t.Errorf("published %+v", as.published)
				}
				return
			}
			if len(as.published) != 1 {
				t.Fatalf("published %+v, want one reveal", as.published)
			}
			a := as.published[0]
			if a.Kind != router.ActionReveal || a.Field != "phone" || a.Actor != "agent1" || a.Case != "TS1" || a.Note != "" {
				t.Errorf("audit %+v", a)
			}
		})
	}
}

package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/alertsink"

	"github.com/tousu/tousu/internal/secret"
)

// Tokens of the lifecycle test.
const (
	agentA      = "agent-1001-token-0123456789"
	agentB      = "agent-2002-token-0123456789"
	intakeToken = "intake-token-0123456789abcd"
	alertSecret = "alert-webhook-secret-0123456789"
)

// alertReceiver is a supervisor's webhook: it verifies each alert's
// signature and keeps the notices.
type alertReceiver struct {
	mu      sync.Mutex
	notices []router.Notice
	bad     int
}

func (a *alertReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := alertsink.VerifySignature([]byte(alertSecret), r.Header.Get(alertsink.HeaderTimestamp), body, r.Header.Get(alertsink.HeaderSignature)); err != nil {
		a.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var n router.Notice
	if err := json.Unmarshal(body, &n); err != nil {
		a.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a.notices = append(a.notices, n)
}

func (a *alertReceiver) escalations(caseID string) []router.Notice {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []router.Notice
	for _, n := range a.notices {
		if n.Kind == router.NoticeEscalation && n.Case == caseID {
			out = append(out, n)
		}
	}
	return out
}

// supervisorHook starts a supervisor's webhook, an alertReceiver closed
// at the end of the test, and returns it with the configuration of an
// alert sink sending it escalations, signed with alertSecret.
func supervisorHook(tb testing.TB) (*alertReceiver, alertsink.WebhookConfig) {
	tb.Helper()
	receiver := &alertReceiver{}
	hook := httptest.NewServer(receiver)
	tb.Cleanup(hook.Close)
	tb.Setenv("TOUSU_TEST_ALERT_SECRET", alertSecret)
	return receiver, alertsink.WebhookConfig{Name: "supervisor", URL: hook.URL, SecretEnv: "TOUSU_TEST_ALERT_SECRET", Kinds: []string{router.NoticeEscalation}}
}

// act posts an action on a case with token and returns the status.
func (r *running) act(tb testing.TB, token, caseID string, body map[string]string) int {
	tb.Helper()
	return r.apiAs(tb, token, http.MethodPost, "/api/v1/cases/"+url.PathEscape(caseID)+"/actions", body, nil, nil)
}

// TestCaseLifecycleThroughTheConsole follows one complaint through agents'
// hands: the grade's immediate alert reaches the supervisor's webhook
// signed; the first agent who takes the case stays its owner when it is
// passed on (首问责任制); a category correction is stored and trains the
// classifier; resolving starts the follow-up visit (回访) clock and stops
// the others; a later complaint of the customer about the matter opens a
// new case linked to the resolved one; actions the case does not allow are
// refused.
func TestCaseLifecycleThroughTheConsole(t *testing.T) {
	receiver, hook := supervisorHook(t)
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Auth.Tokens = append(c.Auth.Tokens,
			httpapi.Token{Name: "1001", Token: secret.Inline(agentA), Role: httpapi.RoleAgent},
			httpapi.Token{Name: "2002", Token: secret.Inline(agentB), Role: httpapi.RoleAgent},
			httpapi.Token{Name: "kiosk", Token: secret.Inline(intakeToken), Role: httpapi.RoleIntake})
		c.Alerts.Webhooks = []alertsink.WebhookConfig{hook}
		c.Escalator.Interval = 50 * time.Millisecond
		c.Router.RetrainInterval = 50 * time.Millisecond
	})
	ref := r.submit(t, "我要找记者曝光！手机信号差了三天，打电话总是断线，客服一直推脱", "")
	c := r.waitCase(t, ref, func(c router.Case) bool { return c.Grade == "重大" })

	// The 重大 grade alerts at once: the escalator has the router raise it.
	c = r.waitCase(t, ref, func(c router.Case) bool {
		return slices.ContainsFunc(c.Escalation.Alerts, func(a router.Alert) bool { return a.Step == "grade 重大" && !a.RaisedAt.IsZero() })
	})
	if c.Escalation.Level < 2 {
		t.Errorf("escalation level %d after the grade alert, want 2", c.Escalation.Level)
	}
	polltest.Until(t, "the grade alert at the supervisor's webhook", func() bool { return len(receiver.escalations(c.ID)) > 0 })
	if n := receiver.escalations(c.ID)[0]; n.Step != "grade 重大" || n.Level != 2 || len(n.Notify) == 0 {
		t.Errorf("alert = %+v", n)
	}

	// 首问责任制: 1001 takes it, passes it to 2002, who takes it.
	if code := r.act(t, agentA, c.ID, map[string]string{"kind": "take"}); code != http.StatusAccepted {
		t.Fatalf("take: %d", code)
	}
	r.waitCase(t, ref, func(c router.Case) bool { return c.Status == router.StatusInProgress })
	if code := r.act(t, agentA, c.ID, map[string]string{"kind": "transfer", "assignee": "2002", "department": "网络运维部", "note": "基站问题请协助"}); code != http.StatusAccepted {
		t.Fatalf("transfer: %d", code)
	}
	r.waitCase(t, ref, func(c router.Case) bool { return c.Assignee == "2002" })
	if code := r.act(t, agentB, c.ID, map[string]string{"kind": "take"}); code != http.StatusAccepted {
		t.Fatalf("second take: %d", code)
	}
	c = r.waitCase(t, ref, func(c router.Case) bool { return len(c.History) >= 4 })
	if c.Route.Owner != "1001" || c.Assignee != "2002" || c.Route.Department != "网络运维部" {
		t.Errorf("owner %q assignee %q department %q; want the first taker 1001 to stay owner", c.Route.Owner, c.Assignee, c.Route.Department)
	}

	// A correction of the category is applied and trains the classifier.
	if code := r.act(t, agentB, c.ID, map[string]string{"kind": "recategorize", "category": "服务问题"}); code != http.StatusAccepted {
		t.Fatalf("recategorize: %d", code)
	}
	r.waitCase(t, ref, func(c router.Case) bool { return c.Category == "服务问题" })
	polltest.Until(t, "the classifier retrained with the correction", func() bool {
		return gauge(t, r.registry, "tousu_router_trained_corrections", "pack", c.Pack) == 1
	})

	// Resolving stops the clocks and starts the follow-up visit.
	if code := r.act(t, agentB, c.ID, map[string]string{"kind": "resolve", "note": "已调整基站参数，用户确认信号恢复"}); code != http.StatusAccepted {
		t.Fatalf("resolve: %d", code)
	}
	c = r.waitCase(t, ref, func(c router.Case) bool { return c.Status == router.StatusResolved })
	for _, d := range c.Deadlines {
		if d.Start == "received" && d.StoppedAt.IsZero() {
			t.Errorf("clock %s still runs after resolution", d.Name)
		}
		if d.Name == "follow_up" && (d.StartedAt.IsZero() || d.Due.IsZero() || !d.StoppedAt.IsZero()) {
			t.Errorf("follow-up clock = %+v, want started and running", d)
		}
	}
	if !slices.ContainsFunc(c.Deadlines, func(d router.Deadline) bool { return d.Name == "follow_up" }) {
		t.Errorf("no follow-up clock after resolution: %+v", c.Deadlines)
	}

	// Refused: taking a resolved case (409), unknown case (404), an
	// intake token (403), a kind only tousu sends (422), no token (401).
	refusals := []struct {
		token, caseID string
		body          map[string]string
		want          int
	}{
		{agentA, c.ID, map[string]string{"kind": "take"}, http.StatusConflict},
		{agentA, "TS-NO-SUCH-CASE", map[string]string{"kind": "take"}, http.StatusNotFound},
		{intakeToken, c.ID, map[string]string{"kind": "note", "note": "x"}, http.StatusForbidden},
		{agentA, c.ID, map[string]string{"kind": "escalate"}, http.StatusUnprocessableEntity},
		{agentA, c.ID, map[string]string{"kind": "note"}, http.StatusUnprocessableEntity},
		{"", c.ID, map[string]string{"kind": "note", "note": "x"}, http.StatusUnauthorized},
	}
	for _, tc := range refusals {
		if code := r.act(t, tc.token, tc.caseID, tc.body); code != tc.want {
			t.Errorf("%v on %s: %d, want %d", tc.body, tc.caseID, code, tc.want)
		}
	}

	// The customer complains about the resolved matter again: a new case
	// linked to the resolved one (重复投诉 after resolution).
	again := r.submit(t, "我要找记者曝光！手机信号差了三天，打电话总是断线，客服一直推脱", "")
	next := r.waitCase(t, again, func(router.Case) bool { return true })
	if next.ID == c.ID || !slices.Contains(next.LinkedCases, c.ID) {
		t.Errorf("the complaint after resolution: case %s linked %v; want a new case linked to %s", next.ID, next.LinkedCases, c.ID)
	}
	if receiver.bad != 0 {
		t.Errorf("%d alerts failed signature or decoding", receiver.bad)
	}
}

// gauge reads the value of a gauge with one label from reg; 0 when it has
// none.
func gauge(tb testing.TB, reg prometheus.Gatherer, name, label, value string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

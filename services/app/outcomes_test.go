package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
)

// TestActionResultThroughTheConsole: an agent learns what became of each
// action from the path its 202 names: a take applied, and a take just
// after a close, which the router refuses, refused with the Chinese
// reason, through the embedded broker's case.outcomes.
func TestActionResultThroughTheConsole(t *testing.T) {
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Auth.Tokens = append(c.Auth.Tokens,
			httpapi.Token{Name: "1001", Token: secret.Inline(agentA), Role: httpapi.RoleAgent},
			httpapi.Token{Name: "2002", Token: secret.Inline(agentB), Role: httpapi.RoleAgent})
	})
	ref := r.submit(t, "家里宽带三天两头掉线，报修了两次都没人来，工单号ＷＤ２０２６０３０２００１", "")
	c := r.waitCase(t, ref, func(router.Case) bool { return true })
	// send posts an action and returns where its result is.
	send := func(token string, body map[string]string) string {
		t.Helper()
		var accepted struct{ Result string }
		if code := r.apiAs(t, token, http.MethodPost, "/api/v1/cases/"+url.PathEscape(c.ID)+"/actions", body, nil, &accepted); code != http.StatusAccepted || accepted.Result == "" {
			t.Fatalf("%v: %d %+v", body, code, accepted)
		}
		return accepted.Result
	}
	type status struct {
		State    router.ActionState
		Revision int64
		Code     string
		Message  string
	}
	// result waits until the action is no longer pending.
	result := func(path string) status {
		t.Helper()
		var st status
		polltest.Until(t, "the result of "+path, func() bool {
			st = status{}
			return r.apiAs(t, agentA, http.MethodGet, path, nil, nil, &st) == http.StatusOK && st.State != router.ActionPending
		})
		return st
	}
	taken := send(agentA, map[string]string{"kind": "take"})
	if st := result(taken); st.State != router.ActionApplied || st.Revision < 2 {
		t.Errorf("take: %+v, want applied", st)
	}
	// A take of another agent right after the close, let through by a
	// console replica whose index had not seen the close yet (published
	// here as that replica would): the router refuses it, and the agent
	// learns why from any replica.
	closed := send(agentA, map[string]string{"kind": "close", "note": "客户表示已自行恢复，同意关闭"})
	held, err := r.index.Get(context.Background(), c.ID) // with the customer key the API hides
	if err != nil {
		t.Fatal(err)
	}
	stale := router.Action{V: router.ActionVersion, ID: "api:stale-take", Case: c.ID, Customer: held.Customer.Key, Kind: router.ActionTake,
		Actor: "2002", At: time.Now().UTC()}
	if err := publishAction(r.producer)(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if st := result(closed); st.State != router.ActionApplied {
		t.Errorf("close: %+v, want applied", st)
	}
	st := result("/api/v1/cases/" + url.PathEscape(c.ID) + "/actions/" + stale.ID)
	if st.State != router.ActionRefused || st.Code != router.CodeCaseFinished || !strings.Contains(st.Message, "已关闭") {
		t.Errorf("the take after the close: %+v, want refused: the case is closed", st)
	}
}

package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
)

// TestSurveyAnswerClosesOrReopens: the follow-up survey link of a resolved
// case, signed with the installation's survey key, opens the survey page
// of the running process; the customer's answer goes through case.actions
// to the router, which closes the case (satisfied) or reopens it (not),
// with the answer on the timeline; the same link then takes no second
// answer.
func TestSurveyAnswerClosesOrReopens(t *testing.T) {
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.Auth.Tokens = append(c.Auth.Tokens, httpapi.Token{Name: "1001", Token: secret.Inline(agentA), Role: httpapi.RoleAgent})
	})
	for _, tt := range []struct {
		name      string
		satisfied string
		comment   string
		status    router.Status
		note      string
	}{
		{"satisfied", "yes", "", router.StatusClosed, "在线评价 · 回访：客户满意"},
		{"not satisfied", "no", "说是修好了，今天早上又断网两次", router.StatusInProgress, "在线评价 · 回访：客户不满意。客户留言：说是修好了，今天早上又断网两次"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ref := r.submit(t, "宽带老是掉线，报修三次了都没修好，耽误我在家上班 "+tt.name, "")
			c := r.waitCase(t, ref, func(router.Case) bool { return true })
			for _, a := range []map[string]string{{"kind": "take"}, {"kind": "resolve", "note": "更换了分光器，线路测试正常"}} {
				if code := r.act(t, agentA, c.ID, a); code != http.StatusAccepted {
					t.Fatalf("%s: %d", a["kind"], code)
				}
			}
			c = r.waitCase(t, ref, func(c router.Case) bool { return c.Status == router.StatusResolved })

			link := router.SurveyLink(r.base, r.key.Derive("survey"), c, time.Now().Add(time.Hour))
			path := strings.TrimPrefix(link, r.base)
			s := newFormSession(t, r.base)
			fields := s.get(t, path)
			fields["t"] = strings.TrimPrefix(path, "/survey?t=")
			fields["satisfied"], fields["comment"] = tt.satisfied, tt.comment
			if code, page := s.post(t, "/survey", fields, "", nil); code != http.StatusOK || !strings.Contains(page, "感谢您的评价") {
				t.Fatalf("answer: %d %s", code, page)
			}
			c = r.waitCase(t, ref, func(c router.Case) bool { return c.Status == tt.status })
			last := c.History[len(c.History)-1]
			if last.Actor != router.SurveyActor || last.Note != tt.note {
				t.Fatalf("the timeline ends with %+v", last)
			}
			fields = s.get(t, "/")
			fields["t"] = strings.TrimPrefix(path, "/survey?t=")
			fields["satisfied"] = "yes"
			if code, _ := s.post(t, "/survey", fields, "", nil); code != http.StatusConflict {
				t.Fatalf("a second answer to the same link: %d, want 409", code)
			}
		})
	}
}

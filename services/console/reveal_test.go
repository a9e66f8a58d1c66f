package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tousu/tousu/router"
)

// TestReveal: an agent sees the customer's phone masked on the case page,
// with a button that shows it; the reveal answers the number and sends
// a reveal action for the case's timeline, and the log says who, which
// case and which contact, never the number. Another department's agent,
// a contact the customer has not, a post without the CSRF token and an
// audit the broker did not take show nothing.
func TestReveal(t *testing.T) {
	tests := []struct {
		name, who, caseID, field string
		csrf                     string
		brokerDown               bool
		code                     int
		// shown is the number on the answer; "" when none is shown.
		shown string
	}{
		{"an agent of the case's department", "甲", "TS-C", "phone", testCSRF, false, http.StatusOK, "+8613912340003"},
		{"the agent who owns a case passed on", "甲", "TS-B", "phone", testCSRF, false, http.StatusOK, "+8613912340002"},
		{"a closed case's customer is called back too", "甲", "TS-E", "phone", testCSRF, false, http.StatusOK, "+8613912340005"},
		{"another department's agent", "乙", "TS-C", "phone", testCSRF, false, http.StatusNotFound, ""},
		{"a contact the customer has not", "甲", "TS-C", "email", testCSRF, false, http.StatusUnprocessableEntity, ""},
		{"an ID-card number is no contact", "甲", "TS-C", "id_card", testCSRF, false, http.StatusUnprocessableEntity, ""},
		{"without the CSRF token", "甲", "TS-C", "phone", "", false, http.StatusForbidden, ""},
		{"the audit cannot be sent", "甲", "TS-C", "phone", testCSRF, true, http.StatusServiceUnavailable, ""},
		{"a supervisor needs none", "王", "TS-C", "phone", testCSRF, false, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := newPagesServer(t, fixtures(t)...)
			if tt.brokerDown {
				ps.publishErr = errors.New("broker unavailable")
			}
			code, page := ps.post(t, tt.who, "/console/cases/"+tt.caseID+"/reveal", url.Values{"_csrf": {tt.csrf}, "field": {tt.field}})
			if code != tt.code {
				t.Fatalf("POST reveal = %d, want %d: %.300s", code, tt.code, page)
			}
			digits := "1391234000" + tt.caseID[3:] // never shown unless revealed
			if tt.caseID == "TS-C" {
				digits = "13912340003"
			}
			if tt.shown == "" {
				if strings.Contains(page, digits) || len(ps.published) != 0 {
					t.Errorf("shown or audited: published %+v, page has the number %v", ps.published, strings.Contains(page, digits))
				}
				return
			}
			// html/template writes + as &#43;.
			if !strings.Contains(page, "客户电话号码："+strings.ReplaceAll(tt.shown, "+", "&#43;")) || !strings.Contains(page, "已记入处理记录") {
				t.Errorf("the answer lacks the number: %.2000s", page)
			}
			if len(ps.published) != 1 {
				t.Fatalf("published %+v, want one reveal", ps.published)
			}
			a := ps.published[0]
			if a.Kind != router.ActionReveal || a.Field != tt.field || a.Case != tt.caseID || a.Actor != "坐席甲" || a.Note != "" {
				t.Errorf("action %+v, want a reveal of %s by 坐席甲", a, tt.field)
			}
			logs := ps.logs.FilterMessage("contact revealed").All()
			if len(logs) != 1 {
				t.Fatalf("logged %v", ps.logs.All())
			}
			f := logs[0].ContextMap()
			if f["by"] != "坐席甲" || f["case"] != tt.caseID || f["field"] != tt.field {
				t.Errorf("log fields %v", f)
			}
			for _, e := range ps.logs.All() {
				if strings.Contains(e.Message, digits) || strings.Contains(fmt.Sprint(e.ContextMap()), digits) {
					t.Errorf("the log has the number: %v", e)
				}
			}
		})
	}
}

// TestRevealButton: the case page offers an agent the contacts they see
// masked, and a supervisor, who sees them, nothing to reveal.
func TestRevealButton(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	button := `action="/console/cases/TS-C/reveal"`
	ps.check(t, "甲", "/console/cases/TS-C", http.StatusOK, []string{button, `name="field" value="phone"`, "查看电话号码", "139****0003"},
		[]string{`value="email"`, "13912340003"})
	ps.check(t, "王", "/console/cases/TS-C", http.StatusOK, []string{"&#43;8613912340003"}, []string{button})
}

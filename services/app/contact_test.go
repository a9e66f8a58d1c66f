package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tousu/tousu/ingest"
)

// TestEndToEndLandline follows a customer who gives a landline number
// without its area code on the web form: refused with a Chinese message
// when the installation has no default area code, and with one a case the
// customer can be called back on, decided valid, whose status page answers
// the number's last four digits.
func TestEndToEndLandline(t *testing.T) {
	fill := func(s *formSession) map[string]string {
		fields := s.get(t, "/")
		fields["name"], fields["phone"], fields["email"] = "钱七", "6234 5678", ""
		fields["subject"], fields["description"] = "宽带断网", "家里宽带断网三天了，报修电话一直打不通，要求尽快上门维修"
		return fields
	}

	r := startTousu(t, t.TempDir())
	s := newFormSession(t, r.base)
	code, page := s.post(t, "/complaints", fill(s), "", nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "请填写带区号的固定电话") {
		t.Fatalf("without a default area code: %d %s", code, page)
	}
	r.stop()

	r = startTousu(t, t.TempDir(), func(c *Config) { c.Intake = ingest.Config{DefaultAreaCode: "010"} })
	s = newFormSession(t, r.base)
	code, page = s.post(t, "/complaints", fill(s), "", nil)
	m := referenceOnPage.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("with default area code 010: %d %s", code, page)
	}
	c := r.waitFor(t, url.Values{"q": {"报修电话"}}, 1).Hits[0]
	if c.Customer.Phone != "+861062345678" || !c.Validity.Valid {
		t.Errorf("case customer %+v, validity %+v", c.Customer, c.Validity)
	}
	status := s.get(t, "/status")
	status["reference"], status["digits"] = m[1], "5678"
	if code, page = s.post(t, "/status", status, "", nil); code != http.StatusOK || !strings.Contains(page, "已受理") {
		t.Errorf("status page for the last four digits: %d %s", code, page)
	}
}

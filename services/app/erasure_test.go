package app

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/privacy"
)

// erasureCustomer is the customer whose data the erasure test erases.
const erasureCustomer = "钱小红"

// TestEndToEndErasure, on the embedded broker with each index backend: an
// admin exports a customer's cases, then erases them; afterwards the
// console finds nothing by the customer's phone, name, e-mail, ID number
// or attachment hash, the export is empty, the file only they sent is
// deleted while one another customer sent too stays, and the statistics
// still count the case.
func TestEndToEndErasure(t *testing.T) {
	backends := []struct {
		name string
		edit func(testing.TB, *Config)
	}{
		{"bleve", func(testing.TB, *Config) {}},
		{"elasticsearch", func(tb testing.TB, c *Config) {
			es := servertest.Require(tb, servertest.ES)
			replicas := 0
			c.Index.Backend = "elasticsearch"
			c.Index.Elasticsearch.URLs = []string{es}
			c.Index.Elasticsearch.IndexPrefix = fmt.Sprintf("tousu-erasure-%d", time.Now().UnixNano())
			c.Index.Elasticsearch.Replicas = &replicas
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			r := startTousu(t, dir, func(c *Config) { b.edit(t, c) })
			testErasure(t, r, dir)
		})
	}
}

func testErasure(t *testing.T, r *running, dir string) {
	png := func(s string) []byte { return append([]byte("\x89PNG\r\n\x1a\n"), []byte(s)...) }
	own, shared := png("钱小红的身份证正面"), png("营业厅门口的告示")
	submit := func(name, phone, email, text, file string, content []byte) string {
		s := newFormSession(t, r.base)
		fields := s.get(t, "/")
		fields["name"], fields["phone"], fields["email"], fields["subject"], fields["description"] = name, phone, email, "宽带投诉", text
		code, page := s.post(t, "/complaints", fields, file, content)
		m := referenceOnPage.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil {
			t.Fatalf("submit: %d %s", code, page)
		}
		return m[1]
	}
	ref := submit(erasureCustomer, "139 8765 4321", "qianxh@example.cn",
		"12月1号起宽带断网，身份证11010519491231002X，住南京市鼓楼区中山路18号5栋1203室，营业厅说要等一周", "身份证.png", own)
	other := submit("孙大伟", "137 0000 1111", "", "小区宽带12月1号起全部断网，营业厅门口贴了告示", "告示.png", shared)
	second := submit(erasureCustomer, "13987654321", "", "另外营业厅门口的告示说是线路改造，也没通知我们", "告示.png", shared)
	c := r.waitCase(t, ref, func(router.Case) bool { return true })
	r.waitCase(t, other, func(router.Case) bool { return true })
	r.waitCase(t, second, func(router.Case) bool { return true })
	if len(c.Attachments) != 1 {
		t.Fatalf("case %s has attachments %+v", ref, c.Attachments)
	}
	ownSum := c.Attachments[0].SHA256
	sharedSum := r.waitCase(t, other, func(router.Case) bool { return true }).Attachments[0].SHA256
	file := func(sum string) string { return filepath.Join(dir, "attachments", sum[:2], sum) }

	var ex privacy.Export
	if code := r.api(t, http.MethodGet, httpapi.PathAdminCustomers+"?phone=13987654321", nil, nil, &ex); code != http.StatusOK || len(ex.Cases) == 0 {
		t.Fatalf("export: %d, %d cases", code, len(ex.Cases))
	}
	if !strings.Contains(ex.Cases[0].Description, "中山路18号") || len(ex.Attachments) == 0 || ex.Selector != "phone:139****4321" {
		t.Errorf("export %+v", ex)
	}
	exported := len(ex.Cases)

	// An agent may do neither.
	if code := r.apiAs(t, "", http.MethodGet, httpapi.PathAdminCustomers+"?phone=13987654321", nil, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("export without a token: %d", code)
	}
	var refusal struct{ Message string }
	if code := r.api(t, http.MethodPost, httpapi.PathAdminErase, map[string]string{"phone": "13987654321"}, nil, &refusal); code != http.StatusUnprocessableEntity ||
		!strings.Contains(refusal.Message, "原因") {
		t.Errorf("erase without a reason: %d %+v", code, refusal)
	}

	var erased privacy.Erased
	body := map[string]string{"reference": ref, "reason": "客户12月6日来电申请删除个人信息"}
	if code := r.api(t, http.MethodPost, httpapi.PathAdminErase, body, nil, &erased); code != http.StatusAccepted || len(erased.Cases) != exported || erased.Files != 1 {
		t.Fatalf("erase: %d %+v, want %d cases and the one file only they sent", code, erased, exported)
	}
	for _, id := range erased.Cases {
		r.waitCase(t, id, func(c router.Case) bool { return c.Erased != nil })
	}
	for name, q := range map[string]url.Values{
		"phone": {"phone": {"13987654321"}}, "name": {"customer": {erasureCustomer}}, "email": {"email": {"qianxh@example.cn"}},
		"attachment": {"attachment": {ownSum}}, "name in text": {"q": {erasureCustomer}}, "address": {"q": {`"中山路18号"`}},
		"ID number": {"q": {"11010519491231002X"}},
	} {
		if res := r.search(t, q); res.Total != 0 {
			t.Errorf("after the erasure, the %s finds %d cases", name, res.Total)
		}
	}
	if res := r.search(t, url.Values{"attachment": {sharedSum}}); res.Total != 1 || res.Hits[0].ID != other {
		t.Errorf("the other customer's case with the shared file: %+v", res.Hits)
	}
	if code := r.api(t, http.MethodGet, httpapi.PathAdminCustomers+"?phone=13987654321", nil, nil, &ex); code != http.StatusOK || len(ex.Cases) != 0 {
		t.Errorf("export after the erasure: %d, %d cases", code, len(ex.Cases))
	}
	if _, err := os.Stat(file(ownSum)); !os.IsNotExist(err) {
		t.Errorf("the file only they sent is still there: %v", err)
	}
	if _, err := os.Stat(file(sharedSum)); err != nil {
		t.Errorf("the file another customer sent too is gone: %v", err)
	}
	// Statistics still count the erased cases: closed, on the web form.
	if res := r.search(t, url.Values{"status": {"closed"}, "channel": {"webform"}}); res.Total != exported {
		t.Errorf("closed web-form cases: %d, want the %d erased", res.Total, exported)
	}
	got := r.waitCase(t, ref, func(c router.Case) bool { return c.Erased != nil })
	if b := fmt.Sprintf("%+v", got); strings.Contains(b, "4321") || strings.Contains(b, "qianxh") || !bytes.Contains([]byte(got.Description), []byte("营业厅说要等一周")) {
		t.Errorf("the erased case: %s", b)
	}
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
)

// visitor is a browser of the test: it keeps the cookies it is given,
// whichever console replica gave them, and sends them to every replica.
type visitor struct {
	tb      testing.TB
	cookies map[string]string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// do sends form (nil: none) to base+path and returns the status, the
// Location and the body.
func (v *visitor) do(base, method, path string, form url.Values, header ...string) (int, string, string) {
	v.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		v.tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for name, value := range v.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		v.tb.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(v.cookies, c.Name)
		} else {
			v.cookies[c.Name] = c.Value
		}
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// form returns the CSRF token of the form on base+path.
func (v *visitor) form(base, path string) string {
	v.tb.Helper()
	_, _, page := v.do(base, http.MethodGet, path, nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		v.tb.Fatalf("no form on %s%s: %.300s", base, path, page)
	}
	return m[1]
}

// signIn signs in on base and returns the status and where it leads.
func (v *visitor) signIn(base, name, password string) (int, string) {
	v.tb.Helper()
	code, where, _ := v.do(base, http.MethodPost, "/console/signin", url.Values{"_csrf": {v.form(base, "/console/signin")}, "name": {name}, "password": {password}})
	return code, where
}

// TestConsoleReplicasShareSessions runs two console processes on real
// Kafka: an account created on one signs in on the other, a session from
// either works on both, a password changed on one ends the older sessions
// on both, and failed sign-ins on one lock the name on the other.
func TestConsoleReplicasShareSessions(t *testing.T) {
	kafka, es := servertest.Require(t, servertest.Kafka), servertest.Require(t, servertest.ES)
	root := t.TempDir()
	cfgPath := filepath.Join(root, "tousu.yaml")
	prefix := fmt.Sprintf("tousu-it-%d", time.Now().UnixNano())
	t.Cleanup(func() { dropIndex(t, es, prefix) })
	cfg := fmt.Sprintf("bus:\n  brokers: [%s]\nindex:\n  backend: elasticsearch\n  elasticsearch:\n    urls: [%s]\n    index_prefix: %s\n    number_of_replicas: 0\n", kafka, es, prefix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	a := startProc(t, env, "-config", cfgPath, "-target", "console", "-data", filepath.Join(root, "console-a"))
	b := startProc(t, env, "-config", cfgPath, "-target", "console", "-data", filepath.Join(root, "console-b"))
	name := "it" + strconv.FormatInt(time.Now().UnixNano(), 36)
	first := "初始密码Chushi-2026"
	body := fmt.Sprintf(`{"name":%q,"display_name":"集成测试坐席","role":"agent","departments":["客服部"],"password":%q}`, name, first)
	if code := a.request(t, http.MethodPost, "/api/v1/admin/users", body, nil); code != http.StatusCreated {
		t.Fatalf("create %s on A: %d", name, code)
	}

	v := &visitor{tb: t, cookies: map[string]string{}}
	var code int
	var where string
	polltest.Until(t, "the account created on A signs in on B", func() bool {
		code, where = v.signIn(b.http, name, first)
		return code == http.StatusSeeOther
	})
	if where != "/console/password" {
		t.Fatalf("sign-in on B: %d %q, want the password page first", code, where)
	}
	second := "新密码Xinmima-2027"
	token := v.form(b.http, "/console/password")
	if code, where, _ := v.do(b.http, http.MethodPost, "/console/password", url.Values{"_csrf": {token}, "old": {first}, "new": {second}, "again": {second}}); code != http.StatusSeeOther || where != "/console/" {
		t.Fatalf("password change on B: %d %q", code, where)
	}
	polltest.Until(t, "B's session works on A", func() bool {
		code, _, _ := v.do(a.http, http.MethodGet, "/api/v1/cases", nil)
		return code == http.StatusOK
	})

	w := &visitor{tb: t, cookies: map[string]string{}}
	if code, where := w.signIn(a.http, name, second); code != http.StatusSeeOther || where != "/console/" {
		t.Fatalf("sign-in on A with the new password: %d %q", code, where)
	}
	if code, _, _ := w.do(b.http, http.MethodGet, "/api/v1/cases", nil); code != http.StatusOK {
		t.Errorf("A's session on B: %d", code)
	}
	old := map[string]string{}
	for k, val := range w.cookies {
		old[k] = val
	}
	third := "第三个密码Disan-2028"
	token = w.form(a.http, "/console/password")
	if code, _, _ := w.do(a.http, http.MethodPost, "/console/password", url.Values{"_csrf": {token}, "old": {second}, "new": {third}, "again": {third}}); code != http.StatusSeeOther {
		t.Fatalf("second password change on A: %d", code)
	}
	stale := &visitor{tb: t, cookies: old}
	polltest.Until(t, "the session from before the change is refused on B", func() bool {
		code, _, _ := stale.do(b.http, http.MethodGet, "/api/v1/cases", nil)
		stale.cookies = map[string]string{"tousu_session": old["tousu_session"]}
		return code == http.StatusUnauthorized
	})

	// Five failures on A lock the name on B once B has read them; a
	// sign-in on B before that succeeds and clears the count, so the
	// failures are made again until B refuses.
	polltest.Until(t, "the name locked on A is locked on B", func() bool {
		for i := 0; i < 5; i++ {
			if code, _ := (&visitor{tb: t, cookies: map[string]string{}}).signIn(a.http, name, "错误密码Cuowu-"+strconv.Itoa(i)); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
				t.Fatalf("failure %d on A: %d", i, code)
			}
		}
		code, _ := (&visitor{tb: t, cookies: map[string]string{}}).signIn(b.http, name, third)
		return code == http.StatusTooManyRequests
	})
}

package app

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
)

// TestFirstAdminSignsIn: on a new installation the first admin signs in
// to the console with the one-time password from DATA/admin-password,
// must choose a new one before anything else, and then the admin API
// answers to the session.
func TestFirstAdminSignsIn(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load("", nil, func(c *Config) { c.DataDir, c.HTTP.Listen = dir, "127.0.0.1:0" })
	if err != nil {
		t.Fatal(err)
	}
	targets, _ := ParseTargets("all", true)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, targets, zap.NewNop(), io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	path := filepath.Join(dir, accounts.PasswordFile)
	polltest.Until(t, "the admin's password is written", func() bool { _, err := os.Stat(path); return err == nil })
	b, _ := os.ReadFile(path)
	oneTime := strings.TrimSpace(string(b))

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + p.HTTPAddr()
	do := func(method, path string, form url.Values) (int, string, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(raw)
	}
	csrfOf := func(page string) string {
		m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token in %.300s", page)
		}
		return m[1]
	}
	if code, where, _ := do(http.MethodGet, "/console/password", nil); code != http.StatusSeeOther || where != "/console/signin?next=%2Fconsole%2Fpassword" {
		t.Fatalf("a page without a session: %d %q", code, where)
	}
	_, _, page := do(http.MethodGet, "/console/signin", nil)
	code, where, _ := do(http.MethodPost, "/console/signin", url.Values{"_csrf": {csrfOf(page)}, "name": {"admin"}, "password": {oneTime}})
	if code != http.StatusSeeOther || where != "/console/password" {
		t.Fatalf("sign-in with the one-time password: %d %q", code, where)
	}
	if code, _, _ := do(http.MethodGet, httpapi.PathAdminUsers, nil); code != http.StatusUnauthorized {
		t.Errorf("the admin API before the password is changed: %d", code)
	}
	_, _, page = do(http.MethodGet, "/console/password", nil)
	code, where, _ = do(http.MethodPost, "/console/password", url.Values{"_csrf": {csrfOf(page)}, "old": {oneTime}, "new": {"管理员新密码-2024"}, "again": {"管理员新密码-2024"}})
	if code != http.StatusSeeOther || where != "/console/" {
		t.Fatalf("password change: %d %q", code, where)
	}
	if code, _, body := do(http.MethodGet, httpapi.PathAdminUsers, nil); code != http.StatusOK || !strings.Contains(body, `"must_change_password":false`) {
		t.Errorf("the admin API after the change: %d %.300s", code, body)
	}
}

package webform

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/ingest/bodylimit"
	"github.com/tousu/tousu/ingest/ingesttest"
	"github.com/tousu/tousu/internal/secret"
)

// The API tokens of the tests and their accounts.
const (
	apiToken      = "test-token-0123456789"
	otherAPIToken = "other-token-0123456789"
)

var apiAccounts = map[string]string{apiToken: "partner-a", otherAPIToken: "partner-b", monitorToken: monitorAccount}

// monitorToken is known, but its holder (a monitoring system) may not
// submit complaints.
const monitorToken, monitorAccount = "prometheus-scrape-token-0123", "prometheus"

// fakeLookup is a StatusLookup over a map; err, when set, is returned for
// every look-up.
type fakeLookup struct {
	cases map[string]CaseStatus
	err   error
}

func (l *fakeLookup) LookupStatus(ctx context.Context, ref string) (CaseStatus, error) {
	if l.err != nil {
		return CaseStatus{}, l.err
	}
	cs, ok := l.cases[ref]
	if !ok {
		return CaseStatus{}, ErrUnknownReference
	}
	return cs, nil
}

type testEnv struct {
	app      *fiber.App
	form     *Form
	reg      *prometheus.Registry
	pub      *ingesttest.Recorder
	lookup   *fakeLookup
	surveys  *fakeSurveys
	ledger   *memLedger
	storeDir string
	cfg      Config
}

func newTestEnv(tb testing.TB, cfg Config) *testEnv {
	tb.Helper()
	return newTestEnvSharing(tb, cfg, &memLedger{})
}

// testCSRFSecret signs the CSRF tokens of test Forms configured without
// one.
const testCSRFSecret = "test-csrf-secret-0123456789abcdef-0123456789"

// provisioned returns cfg as New expects it: provisioned, with
// testCSRFSecret unless it names a CSRF secret.
func provisioned(cfg Config) Config {
	if !cfg.CSRFSecret.IsSet() {
		cfg.CSRFSecret = secret.Inline(testCSRFSecret)
	}
	cfg.Provision()
	return cfg
}

// newTestEnvSharing returns a test environment whose Form keeps its
// records in ledger, which other environments may share.
func newTestEnvSharing(tb testing.TB, cfg Config, ledger *memLedger) *testEnv {
	tb.Helper()
	return newReplica(tb, cfg, ledger, nil)
}

// newReplica returns a test environment whose Form keeps its records in
// ledger and counts its rate limits in rates (nil: alone), which other
// environments may share.
func newReplica(tb testing.TB, cfg Config, ledger, rates *memLedger) *testEnv {
	tb.Helper()
	dir := tb.TempDir()
	store, err := attachment.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	pub := &ingesttest.Recorder{}
	reg := prometheus.NewRegistry()
	cfg = provisioned(cfg)
	shared := Shared{References: ingesttest.References(), Ledger: ledger}
	if rates != nil {
		shared.Rates = rates
	}
	form, err := New(cfg, shared, pub.Publish, store, zap.NewNop(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	app := fiber.New(fiber.Config{StreamRequestBody: true, DisablePreParseMultipartForm: true, DisableStartupMessage: true})
	form.Mount(app, BearerAuth(func(tok string) (string, bool, bool) {
		account, ok := apiAccounts[tok]
		return account, ok, ok && account != monitorAccount
	}))
	lookup := &fakeLookup{cases: map[string]CaseStatus{}}
	form.MountStatus(app, lookup)
	surveys := &fakeSurveys{cases: map[string]SurveyCase{}}
	form.MountSurvey(app, surveys)
	return &testEnv{app: app, form: form, reg: reg, pub: pub, lookup: lookup, surveys: surveys, ledger: ledger, storeDir: dir, cfg: cfg}
}

func (e *testEnv) do(tb testing.TB, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := e.app.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// session is a rendered form: its cookie, CSRF token and nonce.
type session struct {
	cookie *http.Cookie
	csrf   string
	nonce  string
}

var (
	csrfRe  = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	nonceRe = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	refRe   = regexp.MustCompile(`TS[0-9A-Z]{10}`)
)

func (e *testEnv) open(tb testing.TB, path string) (session, string) {
	tb.Helper()
	resp, body := e.do(tb, httptest.NewRequest(http.MethodGet, path, nil))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	var s session
	for _, c := range resp.Cookies() {
		if c.Name == csrfCookieName {
			s.cookie = c
		}
	}
	if s.cookie == nil {
		tb.Fatalf("GET %s set no CSRF cookie", path)
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		tb.Fatalf("GET %s: no CSRF token in page", path)
	}
	s.csrf = m[1]
	if m := nonceRe.FindStringSubmatch(body); m != nil {
		s.nonce = m[1]
	}
	return s, body
}

// upload is a file part of a form submission.
type upload struct {
	name, contentType string
	content           []byte
}

// post submits a multipart form with the session's token and nonce unless
// fields override them.
func (e *testEnv) post(tb testing.TB, path string, s session, fields map[string]string, file *upload) (*http.Response, string) {
	tb.Helper()
	return e.postWith(tb, path, s, fields, file, nil)
}

// postWith is post with request headers.
func (e *testEnv) postWith(tb testing.TB, path string, s session, fields map[string]string, file *upload, headers map[string]string) (*http.Response, string) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	all := map[string]string{"_csrf": s.csrf, "nonce": s.nonce}
	for k, v := range fields {
		all[k] = v
	}
	for k, v := range all {
		w.WriteField(k, v)
	}
	if file != nil {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="attachment"; filename="` + file.name + `"`}
		h["Content-Type"] = []string{file.contentType}
		part, err := w.CreatePart(h)
		if err != nil {
			tb.Fatal(err)
		}
		part.Write(file.content)
	}
	w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if s.cookie != nil {
		req.AddCookie(&http.Cookie{Name: s.cookie.Name, Value: s.cookie.Value})
	}
	return e.do(tb, req)
}

func validFields() map[string]string {
	return map[string]string{
		"name":        "张三",
		"phone":       "138 0013 8000",
		"email":       "zhang@example.com",
		"subject":     "手机信号差",
		"description": "  手机信号差了三天，打电话总是断线。  ",
		"consent":     DefaultPrivacyVersion,
	}
}

func TestFormRender(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, body := e.open(t, "/")
	for _, want := range []string{
		`<meta name="viewport"`, `lang="zh-CN"`, `name="website"`, `class="hp"`,
		`name="description"`, `name="attachment"`, `enctype="multipart/form-data"`, `action="/complaints"`, "提交投诉",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("form page lacks %q", want)
		}
	}
	if s.csrf == "" || s.csrf != s.cookie.Value {
		t.Errorf("CSRF token %q does not match cookie %q", s.csrf, s.cookie.Value)
	}
	if !e.form.tokens.validNonce(s.csrf, s.nonce) {
		t.Errorf("bad nonce %q", s.nonce)
	}
	if !s.cookie.HttpOnly {
		t.Errorf("CSRF cookie is not HttpOnly")
	}
}

func TestSubmitValid(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	resp, body := e.post(t, "/complaints", s, validFields(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	envs := e.pub.Published()
	if len(envs) != 1 {
		t.Fatalf("published %d envelopes, want 1", len(envs))
	}
	env := envs[0]
	wantID := ingest.NewID(ingest.ChannelWebForm, "", s.nonce)
	if want := ingesttest.References().For(wantID); env.ID != wantID || env.Reference != want {
		t.Fatalf("id %q ref %q, want %q %q", env.ID, env.Reference, wantID, want)
	}
	if !strings.Contains(body, env.Reference) || !strings.Contains(body, "受理编号") {
		t.Fatalf("receipt lacks the reference %s", env.Reference)
	}
	if !strings.Contains(body, "/status?reference="+env.Reference) {
		t.Errorf("receipt lacks a link to the status page")
	}
	if env.V != ingest.SchemaVersion || env.Channel != ingest.ChannelWebForm || env.ReceivedAt.IsZero() || env.ReceivedAt.Location() != time.UTC {
		t.Errorf("bad envelope header: %+v", env)
	}
	if env.Description != "手机信号差了三天，打电话总是断线。" || env.Phone != "138 0013 8000" || env.Name != "张三" {
		t.Errorf("bad envelope fields: %+v", env)
	}
	if _, ok := env.Extra["remote_addr"]; !ok {
		t.Errorf("no remote_addr in %v", env.Extra)
	}
	if len(env.Attachments) != 0 {
		t.Errorf("unexpected attachments %v", env.Attachments)
	}
}

func TestSubmitLandlineWithDefaultAreaCode(t *testing.T) {
	e := newTestEnv(t, Config{Intake: ingest.Config{DefaultAreaCode: "010"}})
	s, _ := e.open(t, "/")
	fields := validFields()
	fields["phone"], fields["email"] = "6234 5678", ""
	if resp, body := e.post(t, "/complaints", s, fields, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	envs := e.pub.Published()
	if len(envs) != 1 || envs[0].Phone != "010-6234 5678" || envs[0].Extra[ingest.ExtraPhoneAreaCode] != "010" {
		t.Fatalf("published %+v", envs)
	}
}

func TestDoubleSubmitSameReference(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	_, first := e.post(t, "/complaints", s, validFields(), nil)
	_, second := e.post(t, "/complaints", s, validFields(), nil)
	r1, r2 := refRe.FindString(first), refRe.FindString(second)
	if r1 == "" || r1 != r2 {
		t.Fatalf("references %q and %q, want the same", r1, r2)
	}
	envs := e.pub.Published()
	if len(envs) != 2 || envs[0].ID != envs[1].ID {
		t.Fatalf("want two publishes of one id, got %d", len(envs))
	}
	s2, _ := e.open(t, "/")
	_, third := e.post(t, "/complaints", s2, validFields(), nil)
	if r3 := refRe.FindString(third); r3 == "" || r3 == r1 {
		t.Fatalf("a new form gave reference %q, want a new one (first %q)", r3, r1)
	}
}

func TestSubmitValidationErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]string
		field   string
		message string
	}{
		{"empty description", map[string]string{"description": "   "}, "description", "此项为必填项"},
		{"bad phone", map[string]string{"phone": "12-34"}, "phone", "无法识别的电话号码"},
		{"landline without area code", map[string]string{"phone": "6234 5678"}, "phone", "请填写带区号的固定电话，例如 010-62345678"},
		{"ten-digit mobile", map[string]string{"phone": "138 0013 800"}, "phone", "手机号码应为 11 位数字"},
		{"bad email", map[string]string{"email": "zhang@"}, "email", "请填写正确的电子邮箱地址"},
		{"no contact", map[string]string{"phone": "", "email": ""}, "phone", "请至少填写手机号码或电子邮箱中的一项"},
		{"non-UTF-8 name", map[string]string{"name": "张\xff三"}, "name", "UTF-8"},
		{"description too long", map[string]string{"description": strings.Repeat("长", ingest.MaxDescriptionBytes)}, "description", "内容过长"},
		// Limits count characters (字) as customers do, not bytes.
		{"description one character over", map[string]string{"description": strings.Repeat("网", 5001)}, "description", "内容过长：最多 5000 字，现有 5001 字，请删减 1 字"},
		{"subject of emoji over", map[string]string{"subject": strings.Repeat("😡", 101)}, "subject", "最多 100 字，现有 101 字"},
		{"name over", map[string]string{"name": strings.Repeat("欧阳", 26)}, "name", "最多 50 字，现有 52 字"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			s, _ := e.open(t, "/")
			fields := validFields()
			for k, v := range tt.change {
				fields[k] = v
			}
			resp, body := e.post(t, "/complaints", s, fields, nil)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			m := regexp.MustCompile(`<p class="err" id="e-` + tt.field + `">([^<]*)</p>`).FindStringSubmatch(body)
			if m == nil || !strings.Contains(html.UnescapeString(m[1]), tt.message) {
				t.Fatalf("no message %q under field %s", tt.message, tt.field)
			}
			if !strings.Contains(body, `value="`+s.nonce+`"`) {
				t.Errorf("nonce not kept")
			}
			if tt.field != "subject" && !strings.Contains(body, `value="手机信号差"`) {
				t.Errorf("subject value not kept")
			}
			if n := len(e.pub.Published()); n != 0 {
				t.Fatalf("published %d envelopes for an invalid submission", n)
			}
		})
	}
}

// TestLengthsInCharacters: a value up to its limit in characters is
// taken, whatever its bytes; line breaks sent as CR LF count once; the
// page states the limits in 字 and never speaks of bytes.
func TestLengthsInCharacters(t *testing.T) {
	tests := []struct {
		name   string
		change map[string]string
	}{
		{"description of 5000 Chinese characters (15000 bytes)", map[string]string{"description": strings.Repeat("断", 5000)}},
		{"description of 5000 characters with CR LF line breaks", map[string]string{"description": strings.Repeat("断网\r\n", 1666) + "断网"}},
		{"subject of 100 emoji (400 bytes)", map[string]string{"subject": strings.Repeat("😡", 100)}},
		{"name of 50 characters", map[string]string{"name": strings.Repeat("阿", 50)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			s, page := e.open(t, "/")
			for _, want := range []string{"最多 5000 字", "最多 100 字", "最多 50 字"} {
				if !strings.Contains(page, want) {
					t.Errorf("the form does not state %q", want)
				}
			}
			if strings.Contains(page, "字节") {
				t.Error("the form speaks of bytes")
			}
			fields := validFields()
			for k, v := range tt.change {
				fields[k] = v
			}
			if resp, body := e.post(t, "/complaints", s, fields, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %.300s", resp.StatusCode, body)
			}
		})
	}
}

func TestSubmitKeepsValuesEscaped(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	fields := validFields()
	fields["name"] = `"><script>alert(1)</script>`
	fields["description"] = ""
	_, body := e.post(t, "/complaints", s, fields, nil)
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("value echoed unescaped")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("value not kept")
	}
}

func TestSubmitHoneypot(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	fields := validFields()
	fields["website"] = "http://spam.example"
	resp, body := e.post(t, "/complaints", s, fields, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if refRe.MatchString(body) {
		t.Fatal("honeypot submission got a reference")
	}
	if n := len(e.pub.Published()); n != 0 {
		t.Fatalf("published %d envelopes for a robot", n)
	}
}

func TestSubmitPublishFailure(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.pub.Fail(errors.New("broker down"))
	s, _ := e.open(t, "/")
	resp, body := e.post(t, "/complaints", s, validFields(), nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if !strings.Contains(body, "系统繁忙，请稍后再试") {
		t.Fatal("no busy message")
	}
	if refRe.MatchString(body) || strings.Contains(body, "投诉已受理") {
		t.Fatal("a reference was shown although publishing failed")
	}
	if !strings.Contains(body, "手机信号差了三天") {
		t.Error("the customer's text was not kept for a retry")
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestSubmitCSRF(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	tests := []struct {
		name string
		s    session
	}{
		{"no token", session{cookie: s.cookie, nonce: s.nonce}},
		{"no cookie", session{csrf: s.csrf, nonce: s.nonce}},
		{"forged token", session{cookie: &http.Cookie{Name: csrfCookieName, Value: "forged"}, csrf: "forged", nonce: s.nonce}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post(t, "/complaints", tt.s, validFields(), nil)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "页面已过期") {
				t.Fatalf("status %d, want 403 with a message", resp.StatusCode)
			}
		})
	}
	if n := len(e.pub.Published()); n != 0 {
		t.Fatalf("published %d envelopes without a valid token", n)
	}
}

func TestSubmitBadNonce(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	s.nonce = "not-a-nonce"
	resp, _ := e.post(t, "/complaints", s, validFields(), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

func TestSubmitRateLimit(t *testing.T) {
	e := newTestEnv(t, Config{RateLimit: 2, RateWindow: time.Hour})
	s, _ := e.open(t, "/")
	var codes []int
	for range 3 {
		resp, _ := e.post(t, "/complaints", s, validFields(), nil)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v, want [200 200 429]", codes)
	}
	// The form page itself is not limited.
	e.open(t, "/")
}

var pngFile = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{1}, 100)...)

func TestSubmitAttachment(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	resp, body := e.post(t, "/complaints", s, validFields(), &upload{`C:\fakepath\截图.png`, "image/png", pngFile})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	envs := e.pub.Published()
	if len(envs) != 1 || len(envs[0].Attachments) != 1 {
		t.Fatalf("want one envelope with one attachment, got %+v", envs)
	}
	att := envs[0].Attachments[0]
	if att.Name != "截图.png" || att.Type != "image/png" || att.Size != int64(len(pngFile)) {
		t.Fatalf("attachment record %+v", att)
	}
	if _, err := os.Stat(filepath.Join(e.storeDir, att.SHA256[:2], att.SHA256)); err != nil {
		t.Fatalf("attachment not stored: %v", err)
	}
}

func TestSubmitAttachmentRejected(t *testing.T) {
	tests := []struct {
		name    string
		file    upload
		status  int
		message string
	}{
		{"too large", upload{"big.png", "image/png", append(pngFile, make([]byte, 2048)...)}, http.StatusRequestEntityTooLarge, "附件过大"},
		{"type not allowed", upload{"page.png", "image/png", []byte("<html><body>hi</body></html>")}, http.StatusUnprocessableEntity, "不支持该附件类型"},
		{"empty file", upload{"empty.png", "image/png", nil}, http.StatusUnprocessableEntity, "附件是空文件"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{MaxAttachmentBytes: 1024})
			s, _ := e.open(t, "/")
			resp, body := e.post(t, "/complaints", s, validFields(), &tt.file)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			m := regexp.MustCompile(`<p class="err" id="e-attachment">([^<]*)</p>`).FindStringSubmatch(body)
			if m == nil || !strings.Contains(m[1], tt.message) {
				t.Fatalf("no message %q under the attachment field", tt.message)
			}
			if n := len(e.pub.Published()); n != 0 {
				t.Fatalf("published %d envelopes", n)
			}
			entries, _ := os.ReadDir(e.storeDir)
			if len(entries) != 0 {
				t.Fatalf("store not empty: %v", entries)
			}
		})
	}
}

func TestSubmitCompressedBodyRefused(t *testing.T) {
	e := newTestEnv(t, Config{})
	req := httptest.NewRequest(http.MethodPost, "/complaints", strings.NewReader("x"))
	req.Header.Set("Content-Encoding", "gzip")
	resp, _ := e.do(t, req)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", resp.StatusCode)
	}
}

func TestURLEncodedSubmit(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	v := url.Values{"_csrf": {s.csrf}, "nonce": {s.nonce}}
	for k, val := range validFields() {
		v.Set(k, val)
	}
	req := httptest.NewRequest(http.MethodPost, "/complaints", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: s.cookie.Name, Value: s.cookie.Value})
	resp, body := e.do(t, req)
	if resp.StatusCode != http.StatusOK || !refRe.MatchString(body) {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestMountUnderPrefix(t *testing.T) {
	store, err := attachment.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub := &ingesttest.Recorder{}
	form, err := New(provisioned(Config{}), testShared(), pub.Publish, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	g := app.Group("/tousu")
	form.Mount(g, nil)
	form.MountStatus(g, &fakeLookup{})
	e := &testEnv{app: app, pub: pub}
	s, body := e.open(t, "/tousu/")
	if !strings.Contains(body, `action="/tousu/complaints"`) || !strings.Contains(body, `href="/tousu/status"`) {
		t.Fatal("links ignore the mount prefix")
	}
	_, receipt := e.post(t, "/tousu/complaints", s, validFields(), nil)
	if !strings.Contains(receipt, `href="/tousu/status?reference=`) {
		t.Fatal("receipt link ignores the mount prefix")
	}
	// A nil API authenticator refuses everything.
	req := httptest.NewRequest(http.MethodPost, "/tousu/api/v1/complaints", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer anything")
	if resp, _ := e.do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	pub := &ingesttest.Recorder{}
	if _, err := New(provisioned(Config{RateLimit: -1}), testShared(), pub.Publish, nil, nil, nil); err == nil {
		t.Error("negative rate limit accepted")
	}
	statusOnly, err := New(provisioned(Config{}), testShared(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Mount on a status-only form did not panic")
			}
		}()
		statusOnly.Mount(fiber.New(), nil)
	}()
	reg := prometheus.NewRegistry()
	if _, err := New(provisioned(Config{}), testShared(), pub.Publish, nil, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(provisioned(Config{}), testShared(), pub.Publish, nil, nil, reg); err == nil {
		t.Error("second registration with the same registry accepted")
	}
}

func TestFormWithoutStore(t *testing.T) {
	pub := &ingesttest.Recorder{}
	form, err := New(provisioned(Config{}), testShared(), pub.Publish, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	form.Mount(app, nil)
	e := &testEnv{app: app, pub: pub}
	s, body := e.open(t, "/")
	if strings.Contains(body, `name="attachment"`) {
		t.Fatal("file field shown without a store")
	}
	resp, _ := e.post(t, "/complaints", s, validFields(), &upload{"a.png", "image/png", pngFile})
	if resp.StatusCode != http.StatusOK || len(pub.Published()[0].Attachments) != 0 {
		t.Fatalf("status %d; attachment not ignored", resp.StatusCode)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" for a valid configuration
	}{
		{"zero", Config{}, ""},
		{"default", DefaultConfig(), ""},
		{"negative attachment", Config{MaxAttachmentBytes: -1}, "max_attachment_bytes: must not be negative"},
		{"negative json", Config{MaxJSONBytes: -1}, "max_json_bytes: must not be negative"},
		{"sub-second window", Config{RateWindow: time.Millisecond}, "rate_window: 1ms must be from 1s to 1h0m0s"},
		{"window over an hour", Config{RateWindow: 2 * time.Hour}, "rate_window: 2h0m0s must be from 1s to 1h0m0s"},
		{"short csrf", Config{CSRFExpiration: time.Second}, "csrf_expiration: 1s must be at least 1m"},
		{"negative timeout", Config{PublishTimeout: -time.Second}, "publish_timeout: must not be negative"},
		{"short csrf secret", Config{CSRFSecret: secret.Inline(strings.Repeat("k", MinCSRFSecretBytes-1))}, "csrf_secret: must be at least 32 bytes"},
		{"csrf secret", Config{CSRFSecret: secret.Inline(strings.Repeat("k", MinCSRFSecretBytes))}, ""},
		{"csrf secret twice", Config{CSRFSecret: secret.Secret{Value: strings.Repeat("k", MinCSRFSecretBytes), Env: "X"}}, "csrf_secret: set one of an inline value, a file and an environment variable, not several"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
	if got := provisioned(Config{}).BodyLimit(); got < DefaultMaxAttachmentBytes {
		t.Errorf("BodyLimit %d below the attachment limit", got)
	}
}

func TestProvisionFillsDefaults(t *testing.T) {
	var cfg Config
	cfg.Provision()
	if cfg != DefaultConfig() {
		t.Errorf("Provision() = %+v, want %+v", cfg, DefaultConfig())
	}
	cfg = Config{RateLimit: 3}
	cfg.Provision()
	if cfg.RateLimit != 3 {
		t.Errorf("Provision() replaced rate_limit: %d", cfg.RateLimit)
	}
}

// counter returns the value of the counter name with the given labels, 0
// if it has not been counted.
func (e *testEnv) counter(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	e.post(t, "/complaints", s, validFields(), nil)
	bot := validFields()
	bot["website"] = "x"
	e.post(t, "/complaints", s, bot, nil)
	e.do(t, apiRequestWith(`{}`, apiToken, ""))
	for _, tt := range []struct {
		channel, outcome string
	}{{"webform", "accepted"}, {"webform", "honeypot"}, {"api", "invalid"}} {
		if got := e.counter(t, "tousu_webform_submissions_total", map[string]string{"channel": tt.channel, "outcome": tt.outcome}); got != 1 {
			t.Errorf("%s/%s counted %v, want 1", tt.channel, tt.outcome, got)
		}
	}
}

// TestSubmitStopsReadingOverLimit: on a server that streams request
// bodies, a form post over Config.BodyLimit is answered 413 with the
// form's page after the form read no more than the limit: at once when
// Content-Length announces it (the server has read at most its 8 KiB
// prefetch), at the attachment's limit (and bodylimit.Linger more, read
// and dropped) when it is chunked. A client still
// sending when the server closes may see the connection reset instead,
// before the answer or in the middle of its body: then only what the
// server read (and the 413 status, when it arrived) is checked.
func TestSubmitStopsReadingOverLimit(t *testing.T) {
	e := newTestEnv(t, Config{MaxAttachmentBytes: 64 << 10})
	ln := ingesttest.Listen(t)
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.Shutdown() })
	s, _ := e.open(t, "/")

	tests := []struct {
		name    string
		length  bool
		want    string // on the 413 page
		maxRead int64
	}{
		{"announced", true, "提交的内容过大", 16 << 10},
		{"chunked", false, `id="e-attachment">附件过大`, int64(e.cfg.BodyLimit()) + bodylimit.Linger + 64<<10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			w := multipart.NewWriter(pw)
			go func() {
				fields := validFields()
				fields["_csrf"], fields["nonce"] = s.csrf, s.nonce
				for k, v := range fields {
					w.WriteField(k, v)
				}
				part, _ := w.CreateFormFile("attachment", "big.png")
				part.Write(pngFile)
				_, err := io.Copy(part, io.LimitReader(ingesttest.Zeros{}, 256<<20))
				pw.CloseWithError(err)
			}()
			req, _ := http.NewRequest(http.MethodPost, ln.URL()+"/complaints", pr)
			req.Header.Set("Content-Type", w.FormDataContentType())
			req.AddCookie(&http.Cookie{Name: s.cookie.Name, Value: s.cookie.Value})
			if tt.length {
				req.ContentLength = 256 << 20
			}
			ln.Reset()
			resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
			pr.CloseWithError(errors.New("done"))
			if n := ln.Read(); n > tt.maxRead {
				t.Errorf("the server read %d bytes, want at most %d", n, tt.maxRead)
			}
			if n := len(e.pub.Published()); n != 0 {
				t.Fatalf("published %d envelopes", n)
			}
			if err != nil {
				return // reset while sending the rest
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil && resp.StatusCode == http.StatusRequestEntityTooLarge {
				return // reset while the answer was on its way: a 413 nonetheless
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), tt.want) {
				t.Errorf("status %d, want 413 with %q: %.300s", resp.StatusCode, tt.want, body)
			}
		})
	}
	if entries, _ := os.ReadDir(e.storeDir); len(entries) != 0 {
		t.Errorf("store not empty: %v", entries)
	}
}

// TestSubmitAnnouncedTooLarge: a form post whose Content-Length is over
// Config.BodyLimit (by more than bodylimit.Linger, so nothing is drained)
// gets the form's 413 page as soon as the server has its first 8 KiB
// (what fasthttp reads before the handler runs); the client sends no
// more, so the answer cannot race with a reset.
func TestSubmitAnnouncedTooLarge(t *testing.T) {
	e := newTestEnv(t, Config{MaxAttachmentBytes: 64 << 10})
	ln := ingesttest.Listen(t)
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.Shutdown() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /complaints HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n", e.cfg.BodyLimit()+bodylimit.Linger+1)
	conn.Write(make([]byte, 8<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "提交的内容过大") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d %s, want the 413 page: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestPagesSendStrictHeaders: every page, also an error page, forbids
// scripts, framing and sniffing and is not cached.
func TestPagesSendStrictHeaders(t *testing.T) {
	e := newTestEnv(t, Config{})
	s, _ := e.open(t, "/")
	tests := []struct {
		name string
		req  func() *http.Response
	}{
		{"form", func() *http.Response { r, _ := e.do(t, httptest.NewRequest(http.MethodGet, "/", nil)); return r }},
		{"status", func() *http.Response {
			r, _ := e.do(t, httptest.NewRequest(http.MethodGet, "/status", nil))
			return r
		}},
		{"refused post", func() *http.Response { r, _ := e.post(t, "/complaints", session{}, validFields(), nil); return r }},
		{"receipt", func() *http.Response { r, _ := e.post(t, "/complaints", s, validFields(), nil); return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.req().Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %s", csp, want)
				}
			}
			// The only script is the character counter, by its hash.
			if !regexp.MustCompile(`script-src 'sha256-[A-Za-z0-9+/]{43}='; `).MatchString(csp) || strings.Contains(csp, "unsafe-eval") || strings.Count(csp, "script-src") != 1 {
				t.Errorf("CSP %q allows other scripts than the counter", csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

// TestErrorPages: errors on the public site are pages in the form's
// layout that say in Chinese what happened and lead back to the form, and
// the receipt's address opened again explains itself.
func TestErrorPages(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.app.Get("/boom", func(c *fiber.Ctx) error { return e.form.ErrorPage(c, fiber.StatusInternalServerError) })
	tests := []struct {
		name, path string
		status     int
		want       []string
	}{
		{"the receipt's address reloaded", "/complaints", 200, []string{"请从投诉页面提交", "受理编号", `href="/"`}},
		{"server error", "/boom", 500, []string{"系统出错了", "没有提交成功", "返回投诉页面"}},
	}
	for status, want := range map[int]string{404: "页面不存在", 405: "无法这样打开此页面", 413: "内容过大", 429: "请稍后再试", 400: "无法处理该请求"} {
		e.app.Get(fmt.Sprintf("/e%d", status), func(c *fiber.Ctx) error { return e.form.ErrorPage(c, status) })
		tests = append(tests, struct {
			name, path string
			status     int
			want       []string
		}{fmt.Sprint(status), fmt.Sprintf("/e%d", status), status, []string{want, "返回投诉页面", `<nav>`}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET %s = %d %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, want := range tt.want {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s lacks %q", tt.path, want)
				}
			}
		})
	}
}

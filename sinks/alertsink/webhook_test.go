package alertsink

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
)

const testSecret = "0123456789abcdef-quality"

var t0 = time.Date(2025, 3, 4, 9, 30, 0, 0, time.UTC)

// escalation is a level-2 breach alert for the quality director.
func escalation() router.Notice {
	return router.Notice{
		V: router.NoticeVersion, ID: "esc:TS1:reply:breach", Kind: router.NoticeEscalation, At: t0,
		Case: "TS1", Level: 2, Clock: "reply", Step: "breach", Due: t0.Add(-time.Minute),
		Notify:   []string{"部门负责人", "质量总监"},
		Route:    router.Route{Department: "客服部", Queue: "complaints", Owner: "agent7"},
		Category: "网络质量", Excerpt: "我的手机号13812345678一直没有信号，请联系我", Reason: "the reply clock is breached", Basis: "第十条",
	}
}

// request is what a test server received.
type request struct {
	header http.Header
	body   []byte
}

// recorder is a test webhook receiver answering status.
type recorder struct {
	mu       sync.Mutex
	status   int
	requests []request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.requests = append(rec.requests, request{r.Header.Clone(), body})
	status := rec.status
	rec.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write([]byte(`{"ok":true}`))
}

func (rec *recorder) received() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.requests...)
}

// newServer starts a recorder answering status; it is closed at the end
// of the test.
func newServer(tb testing.TB, status int) (*recorder, *httptest.Server) {
	tb.Helper()
	rec := &recorder{status: status}
	srv := httptest.NewServer(rec)
	tb.Cleanup(srv.Close)
	return rec, srv
}

func newTestWebhook(tb testing.TB, cfg WebhookConfig, secret []byte) *Webhook {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	cfg.Provision()
	w, err := NewWebhook(cfg, secret, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestWebhookSignedRequest(t *testing.T) {
	rec, srv := newServer(t, http.StatusAccepted)
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL + "/alerts"}, []byte(testSecret))
	w.now = func() time.Time { return t0 }
	n := escalation()
	if err := w.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	reqs := rec.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	ts := r.header.Get(HeaderTimestamp)
	if ts != strconv.FormatInt(t0.Unix(), 10) {
		t.Errorf("timestamp %q", ts)
	}
	if got := r.header.Get(HeaderNoticeID); got != n.ID {
		t.Errorf("notice id header %q, want %q", got, n.ID)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	sig := r.header.Get(HeaderSignature)
	if err := VerifySignature([]byte(testSecret), ts, r.body, sig); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
	// Independently of the package's helpers.
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(ts + "." + string(r.body)))
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	if VerifySignature([]byte("another-secret-0123456789"), ts, r.body, sig) == nil {
		t.Error("the signature verifies under another secret")
	}
	var got router.Notice
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != n.ID || got.Level != 2 || got.Excerpt != "我的手机号138****5678一直没有信号，请联系我" || len(got.Notify) != 2 || !got.Due.Equal(n.Due) {
		t.Errorf("body %s", r.body)
	}
}

// TestWebhookMasksNotice: the excerpt and the reason reach the receiver
// with their personal numbers and addresses masked, a number the excerpt
// cuts dropped whole, and the rest of the text as it was.
func TestWebhookMasksNotice(t *testing.T) {
	rec, srv := newServer(t, http.StatusOK)
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL}, []byte(testSecret))
	n := escalation()
	n.Excerpt = "身份证11010519491231002X，退款到6222021234567894，订单20260311123456789012，邮箱zhang@example.com，另一个电话1391234…"
	n.Reason = "an e-mail from li.si@example.com, not the case's customer"
	if err := w.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	body := string(rec.received()[0].body)
	for _, secret := range []string{"11010519491231002X", "6222021234567894", "zhang@", "li.si", "1391234"} {
		if strings.Contains(body, secret) {
			t.Errorf("the receiver reads %q: %s", secret, body)
		}
	}
	var got router.Notice
	if err := json.Unmarshal(rec.received()[0].body, &got); err != nil {
		t.Fatal(err)
	}
	wantExcerpt := "身份证110***********002X，退款到6222********7894，订单20260311123456789012，邮箱z***@example.com，另一个电话…"
	if got.Excerpt != wantExcerpt || got.Reason != "an e-mail from l***@example.com, not the case's customer" {
		t.Errorf("excerpt %q, reason %q", got.Excerpt, got.Reason)
	}
}

func TestWebhookUnsignedAndOmitExcerpt(t *testing.T) {
	rec, srv := newServer(t, http.StatusOK)
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL, Unsigned: true, OmitExcerpt: true}, nil)
	n := escalation()
	if err := w.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := rec.received()[0]
	if _, ok := r.header[HeaderSignature]; ok {
		t.Error("unsigned request has a signature header")
	}
	if r.header.Get(HeaderTimestamp) == "" || r.header.Get(HeaderNoticeID) != n.ID {
		t.Errorf("headers %v", r.header)
	}
	if strings.Contains(string(r.body), "excerpt") || strings.Contains(string(r.body), "13812345678") {
		t.Errorf("body has the excerpt: %s", r.body)
	}
}

func TestWebhookStatus(t *testing.T) {
	tests := []struct {
		status int
		want   string // "ok", "transient" or "permanent"
	}{
		{200, "ok"}, {202, "ok"}, {204, "ok"},
		{301, "permanent"}, {307, "permanent"},
		{400, "permanent"}, {401, "permanent"}, {403, "permanent"}, {404, "permanent"}, {410, "permanent"}, {422, "permanent"},
		{408, "transient"}, {429, "transient"},
		{500, "transient"}, {502, "transient"}, {503, "transient"}, {504, "transient"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			// A redirect leads to a receiver that accepts: it must not be followed.
			_, target := newServer(t, http.StatusOK)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", target.URL)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			err := newTestWebhook(t, WebhookConfig{URL: srv.URL}, []byte(testSecret)).Deliver(context.Background(), escalation())
			if got := outcome(err); got != tt.want {
				t.Fatalf("status %d: %s (%v), want %s", tt.status, got, err, tt.want)
			}
		})
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrPermanent):
		return "permanent"
	default:
		return "transient"
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL, Timeout: 20 * time.Millisecond}, []byte(testSecret))
	err := w.Deliver(context.Background(), escalation())
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPermanent) {
		t.Fatalf("Deliver = %v, want a transient deadline error", err)
	}

	// The caller's context ending is transient too.
	w = newTestWebhook(t, WebhookConfig{URL: srv.URL, Timeout: time.Hour}, []byte(testSecret))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = w.Deliver(ctx, escalation())
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrPermanent) {
		t.Fatalf("Deliver with a canceled context = %v", err)
	}
}

// endless is an answer body that never ends; it counts what was read.
type endless struct {
	mu   sync.Mutex
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range p {
		p[i] = 'x'
	}
	e.read += int64(len(p))
	return len(p), nil
}

func (e *endless) Close() error { return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebhookReadsBoundedAnswer(t *testing.T) {
	for _, status := range []int{200, 500} {
		body := &endless{}
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Status: strconv.Itoa(status), Body: body, Header: http.Header{}, Request: r}, nil
		})}
		cfg := WebhookConfig{Name: "big", URL: "https://hooks.example.com/x"}
		cfg.Provision()
		w, err := NewWebhook(cfg, []byte(testSecret), client, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Deliver(context.Background(), escalation())
		if (status == 200) != (err == nil) {
			t.Fatalf("status %d: Deliver = %v", status, err)
		}
		if body.read > MaxResponseBytes {
			t.Fatalf("status %d: read %d bytes of the answer, want at most %d", status, body.read, MaxResponseBytes)
		}
	}

	// A real server with a large answer: delivered, and the error of a
	// large error answer does not carry its body.
	huge := strings.Repeat("回执", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusBadGateway)
		}
		io.WriteString(w, huge)
	}))
	defer srv.Close()
	if err := newTestWebhook(t, WebhookConfig{URL: srv.URL}, []byte(testSecret)).Deliver(context.Background(), escalation()); err != nil {
		t.Fatal(err)
	}
	err := newTestWebhook(t, WebhookConfig{URL: srv.URL + "?fail=1"}, []byte(testSecret)).Deliver(context.Background(), escalation())
	if err == nil || strings.Contains(err.Error(), "回执") || len(err.Error()) > 500 {
		t.Fatalf("Deliver = %.600v", err)
	}
}

func TestWebhookErrorsHideURL(t *testing.T) {
	const token = "SECRET-ROBOT-KEY-42"
	_, srv := newServer(t, http.StatusInternalServerError)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more
	for _, u := range []string{
		srv.URL + "/cgi-bin/webhook/send?key=" + token,
		srv.URL + "/robot/" + token,
		down.URL + "/send?access_token=" + token,
	} {
		err := newTestWebhook(t, WebhookConfig{URL: u}, []byte(testSecret)).Deliver(context.Background(), escalation())
		if err == nil {
			t.Fatalf("%s: delivered", u)
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "robot") {
			t.Fatalf("error shows the URL: %v", err)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	// Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac 0123456789abcdef
	const good = "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
	secret := []byte("0123456789abcdef")
	tests := []struct {
		name   string
		secret []byte
		ts     string
		body   string
		sig    string
		ok     bool
	}{
		{"good", secret, "1700000000", "{}", good, true},
		{"upper-case hex", secret, "1700000000", "{}", "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), true},
		{"other secret", []byte("0123456789abcdeX"), "1700000000", "{}", good, false},
		{"other timestamp", secret, "1700000001", "{}", good, false},
		{"other body", secret, "1700000000", "{ }", good, false},
		{"no prefix", secret, "1700000000", "{}", strings.TrimPrefix(good, "sha256="), false},
		{"not hex", secret, "1700000000", "{}", "sha256=zz", false},
		{"truncated", secret, "1700000000", "{}", good[:len(good)-2], false},
		{"empty signature", secret, "1700000000", "{}", "", false},
		{"empty timestamp", secret, "", "{}", good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.ts, []byte(tt.body), tt.sig)
			if tt.ok != (err == nil) {
				t.Fatalf("VerifySignature = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v does not wrap ErrBadSignature", err)
			}
		})
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), "1700000000", []byte("{}"), "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e")
	f.Add([]byte("k"), "", []byte(""), "sha256=")
	f.Add([]byte("k"), "1", []byte("x"), "sha256=ZZ")
	f.Fuzz(func(t *testing.T, secret []byte, ts string, body []byte, sig string) {
		err := VerifySignature(secret, ts, body, sig)
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("error %v does not wrap ErrBadSignature", err)
		}
		if ts == "" {
			return
		}
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(ts + "." + string(body)))
		if err := VerifySignature(secret, ts, body, "sha256="+hex.EncodeToString(m.Sum(nil))); err != nil {
			t.Fatalf("a correct signature is refused: %v", err)
		}
	})
}

package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/internal/secret"
)

const (
	shopSecret = "shop-secret-0123456789abcdef"
	// shopOldSecret is the shop's secret before its rotation.
	shopOldSecret = "shop-old-secret-9876543210"
	partnerSecret = "partner-secret-0123456789"
	smallSecret   = "small-secret-0123456789"
)

func testConfig() Config {
	return Config{
		MaxBodyBytes: 4096,
		Sources: map[string]SourceConfig{
			"shop":  {Secret: secret.Inline(shopSecret), PreviousSecret: secret.Inline(shopOldSecret)},
			"small": {Secret: secret.Inline(smallSecret), MaxBodyBytes: 100},
			"partner": {Secret: secret.Inline(partnerSecret), Mapping: map[string]string{
				"name":        "customer.name",
				"phone":       "customer.mobile",
				"description": "data.items.0.text",
				"subject":     "data.title",
				"source_id":   "ticket_no",
				"occurred_at": "data.created",
			}},
		},
	}
}

type testEnv struct {
	app *fiber.App
	pub *ingesttest.Recorder

	mu      sync.Mutex
	refused []string // "source: class", as OnRefused told them
}

// takeRefused returns what OnRefused was told since the last call.
func (e *testEnv) takeRefused() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.refused
	e.refused = nil
	return out
}

// memLedger is a webform.Ledger in memory, as one replica sees it.
type memLedger struct {
	mu      sync.Mutex
	entries map[string][]webform.LedgerEntry
	fail    error // Append's error when set
}

func (l *memLedger) Append(_ context.Context, key string, value []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	if l.entries == nil {
		l.entries = map[string][]webform.LedgerEntry{}
	}
	l.entries[key] = append(l.entries[key], webform.LedgerEntry{At: time.Now(), Value: value})
	return nil
}

func (l *memLedger) Entries(key string) []webform.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entries[key]
}

func newTestEnv(tb testing.TB, cfg Config) *testEnv {
	tb.Helper()
	return newTestEnvSharing(tb, cfg, &memLedger{})
}

// newTestEnvSharing returns a replica whose idempotency keys are kept in
// ledger, which other replicas may share.
func newTestEnvSharing(tb testing.TB, cfg Config, ledger *memLedger) *testEnv {
	tb.Helper()
	pub := &ingesttest.Recorder{}
	cfg.Provision()
	h, err := New(cfg, webform.Shared{References: ingesttest.References(), Ledger: ledger, Rates: ledger}, pub.Publish, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	app := fiber.New()
	e := &testEnv{app: app, pub: pub}
	h.OnRefused(func(source, class string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.refused = append(e.refused, source+": "+class)
	})
	h.Mount(app)
	return e
}

type answer struct {
	Reference string `json:"reference"`
	Error     string `json:"error"`
	Code      string `json:"code"`
	Field     string `json:"field"`
	Retryable bool   `json:"retryable"`
}

// send posts body to source, signed with secret at time ts; headers
// override or add headers ("" deletes).
func (e *testEnv) send(tb testing.TB, source, secret string, ts time.Time, body string, headers map[string]string) (int, answer) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+source, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set(HeaderTimestamp, stamp)
	req.Header.Set(HeaderSignature, Sign([]byte(secret), stamp, []byte(body)))
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.app.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		tb.Fatalf("answer %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, a
}

const defaultBody = `{"name":"王五","phone":"13700001111","email":"wang@example.com","subject":"快递延误","description":"订单 8899 延误十天","source_id":"T-1001","occurred_at":"2026-05-01T08:00:00+08:00"}`

func TestWebhook(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		source  string
		secret  string
		ts      time.Time
		body    string
		headers map[string]string
		status  int
		code    string
		field   string
	}{
		{"accepted", "shop", shopSecret, now, defaultBody, nil, 202, "", ""},
		{"accepted near the tolerance", "shop", shopSecret, now.Add(-4 * time.Minute), defaultBody, nil, 202, "", ""},
		{"previous secret while rotating", "shop", shopOldSecret, now, defaultBody, nil, 202, "", ""},
		{"previous secret of another source", "partner", shopOldSecret, now, defaultBody, nil, 401, "bad_signature", ""},
		{"previous secret, stale", "shop", shopOldSecret, now.Add(-10 * time.Minute), defaultBody, nil, 401, "stale_timestamp", ""},
		{"unknown source", "nobody", shopSecret, now, defaultBody, nil, 401, "bad_signature", ""},
		{"unknown source without signature", "nobody", shopSecret, now, defaultBody, map[string]string{HeaderSignature: ""}, 401, "missing_header", ""},
		{"own limit", "small", smallSecret, now, `{"description":"` + strings.Repeat("x", 200) + `"}`, nil, 413, "too_large", ""},
		{"bad signature", "shop", "wrong-secret-0123456789", now, defaultBody, nil, 401, "bad_signature", ""},
		{"other source's secret", "partner", shopSecret, now, defaultBody, nil, 401, "bad_signature", ""},
		{"signature not hex", "shop", shopSecret, now, defaultBody, map[string]string{HeaderSignature: "sha256=zz"}, 401, "bad_signature", ""},
		{"signature without prefix", "shop", shopSecret, now, defaultBody, map[string]string{HeaderSignature: strings.TrimPrefix(Sign([]byte(shopSecret), strconv.FormatInt(now.Unix(), 10), []byte(defaultBody)), "sha256=")}, 401, "bad_signature", ""},
		{"stale timestamp", "shop", shopSecret, now.Add(-10 * time.Minute), defaultBody, nil, 401, "stale_timestamp", ""},
		{"future timestamp", "shop", shopSecret, now.Add(10 * time.Minute), defaultBody, nil, 401, "stale_timestamp", ""},
		{"missing timestamp", "shop", shopSecret, now, defaultBody, map[string]string{HeaderTimestamp: ""}, 401, "missing_header", ""},
		{"missing signature", "shop", shopSecret, now, defaultBody, map[string]string{HeaderSignature: ""}, 401, "missing_header", ""},
		{"oversized", "shop", shopSecret, now, `{"description":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "too_large", ""},
		{"oversized without signature", "shop", shopSecret, now, `{"description":"` + strings.Repeat("x", 5000) + `"}`, map[string]string{HeaderSignature: ""}, 413, "too_large", ""},
		{"bad JSON", "shop", shopSecret, now, `{"description":`, nil, 400, "invalid_json", ""},
		{"not an object", "shop", shopSecret, now, `"text"`, nil, 400, "invalid_json", ""},
		{"non-UTF-8", "shop", shopSecret, now, "{\"description\":\"\xff\",\"phone\":\"13700001111\"}", nil, 400, "invalid_json", ""},
		{"missing description", "shop", shopSecret, now, `{"phone":"13700001111"}`, nil, 422, "invalid_field", "description"},
		{"bad phone", "shop", shopSecret, now, `{"phone":"call me","description":"x"}`, nil, 422, "invalid_field", "phone"},
		{"bad email", "shop", shopSecret, now, `{"email":"no","description":"x"}`, nil, 422, "invalid_field", "email"},
		{"landline without area code", "shop", shopSecret, now, `{"phone":"62345678","description":"宽带断网三天"}`, nil, 422, "invalid_field", "phone"},
		{"mapped ten-digit mobile", "partner", partnerSecret, now, `{"customer":{"mobile":1380013800},"data":{"items":[{"text":"宽带断网三天"}]}}`, nil, 422, "invalid_field", "phone"},
		{"description not a string", "shop", shopSecret, now, `{"phone":"13700001111","description":{"a":1}}`, nil, 422, "invalid_field", "description"},
		{"bad occurred_at", "shop", shopSecret, now, `{"phone":"13700001111","description":"x","occurred_at":"yesterday"}`, nil, 422, "invalid_field", "occurred_at"},
		{"bad idempotency key", "shop", shopSecret, now, defaultBody, map[string]string{HeaderIdempotency: "has space"}, 400, "bad_idempotency_key", ""},
		{"compressed", "shop", shopSecret, now, defaultBody, map[string]string{"Content-Encoding": "gzip"}, 415, "unsupported_encoding", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, testConfig())
			status, a := e.send(t, tt.source, tt.secret, tt.ts, tt.body, tt.headers)
			if status != tt.status || a.Code != tt.code || a.Field != tt.field {
				t.Fatalf("got %d %+v, want %d code %q field %q", status, a, tt.status, tt.code, tt.field)
			}
			// A refusal counts against its source's channel, by class; an
			// unknown source is nobody's channel.
			var wantRefused []string
			if status != 202 && tt.source != "nobody" {
				wantRefused = []string{tt.source + ": " + RefusalClass(tt.code)}
			}
			if got := e.takeRefused(); !slices.Equal(got, wantRefused) {
				t.Errorf("refused %q, want %q", got, wantRefused)
			}
			published := e.pub.Published()
			if status == 202 {
				if len(published) != 1 || published[0].Reference != a.Reference {
					t.Fatalf("reference %q, published %+v", a.Reference, published)
				}
				return
			}
			if a.Error == "" || a.Reference != "" {
				t.Fatalf("error answer %+v", a)
			}
			if len(published) != 0 {
				t.Fatalf("published %d envelopes", len(published))
			}
		})
	}
}

func TestWebhookEnvelope(t *testing.T) {
	e := newTestEnv(t, testConfig())
	status, a := e.send(t, "shop", shopSecret, time.Now(), defaultBody, nil)
	if status != 202 {
		t.Fatalf("status %d %+v", status, a)
	}
	env := e.pub.Published()[0]
	wantID := ingest.NewID(ingest.ChannelWebhook, "shop", "T-1001")
	if env.ID != wantID || env.Reference != ingesttest.References().For(wantID) || a.Reference != env.Reference {
		t.Fatalf("id %q ref %q, want %q", env.ID, env.Reference, wantID)
	}
	want := ingest.Envelope{
		V: ingest.SchemaVersion, ID: wantID, Reference: env.Reference, Channel: ingest.ChannelWebhook,
		Source: "shop", SourceID: "T-1001", ReceivedAt: env.ReceivedAt,
		OccurredAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		Name:       "王五", Phone: "13700001111", Email: "wang@example.com", Subject: "快递延误",
		Description: "订单 8899 延误十天", Extra: env.Extra,
	}
	if !envEqual(env, want) {
		t.Fatalf("envelope\n%+v\nwant\n%+v", env, want)
	}
	if env.ReceivedAt.IsZero() || env.Extra["remote_addr"] == "" {
		t.Fatalf("no received_at or remote_addr: %+v", env)
	}
}

func envEqual(a, b ingest.Envelope) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestWebhookMapping(t *testing.T) {
	e := newTestEnv(t, testConfig())
	body := `{"ticket_no": 778899, "customer": {"name": "赵六", "mobile": 8613912345678},
		"data": {"title": "屏幕坏了", "created": 1777593600, "items": [{"text": "新买的手机屏幕有坏点"}, {"text": "ignored"}]},
		"description": "not this one"}`
	status, a := e.send(t, "partner", partnerSecret, time.Now(), body, nil)
	if status != 202 {
		t.Fatalf("status %d %+v", status, a)
	}
	env := e.pub.Published()[0]
	if env.Name != "赵六" || env.Phone != "8613912345678" || env.Subject != "屏幕坏了" ||
		env.Description != "新买的手机屏幕有坏点" || env.SourceID != "778899" || env.Source != "partner" ||
		!env.OccurredAt.Equal(time.Unix(1777593600, 0)) {
		t.Fatalf("mapped envelope %+v", env)
	}
	if env.ID != ingest.NewID(ingest.ChannelWebhook, "partner", "778899") {
		t.Fatalf("id %q not from the mapped source_id", env.ID)
	}
}

func TestWebhookDefaultAreaCode(t *testing.T) {
	cfg := testConfig()
	cfg.Intake = ingest.Config{DefaultAreaCode: "0571"}
	e := newTestEnv(t, cfg)
	if status, a := e.send(t, "shop", shopSecret, time.Now(), `{"phone":"8765 4321","description":"宽带断网三天"}`, nil); status != 202 {
		t.Fatalf("status %d %+v", status, a)
	}
	env := e.pub.Published()[0]
	if env.Phone != "0571-8765 4321" || env.Extra[ingest.ExtraPhoneAreaCode] != "0571" || env.Extra["remote_addr"] == "" {
		t.Fatalf("envelope %+v", env)
	}
}

func TestWebhookHTMLOnlyWhereDeclared(t *testing.T) {
	const crmSecret = "crm-secret-0123456789abcdef"
	cfg := testConfig()
	cfg.Sources["crm"] = SourceConfig{Secret: secret.Inline(crmSecret), HTML: []string{"description"}}
	tests := []struct {
		source, secret, body string
		subject, description string
		fromHTML             bool
	}{
		{"shop", shopSecret, `{"phone":"13700001111","subject":"<b>登录</b>","description":"登录提示 <password> 错误，<price>100元</price>"}`,
			"<b>登录</b>", "登录提示 <password> 错误，<price>100元</price>", false},
		{"crm", crmSecret, `{"phone":"13700001111","subject":"<b>登录</b>","description":"<p>登录提示 &lt;password&gt; 错误</p><p>客服<br>不回电</p>"}`,
			"<b>登录</b>", "登录提示 <password> 错误\n\n客服\n不回电", true},
	}
	for _, tt := range tests {
		e := newTestEnv(t, cfg)
		if status, a := e.send(t, tt.source, tt.secret, time.Now(), tt.body, nil); status != 202 {
			t.Fatalf("%s: status %d %+v", tt.source, status, a)
		}
		env := e.pub.Published()[0]
		if env.Subject != tt.subject || env.Description != tt.description || (env.Extra[ingest.ExtraTextFromHTML] == "true") != tt.fromHTML {
			t.Errorf("%s: subject %q, description %q, extra %v", tt.source, env.Subject, env.Description, env.Extra)
		}
	}
}

func TestWebhookIdempotency(t *testing.T) {
	now := time.Now()
	t.Run("key", func(t *testing.T) {
		e := newTestEnv(t, testConfig())
		h := map[string]string{HeaderIdempotency: "evt-1"}
		s1, a1 := e.send(t, "shop", shopSecret, now, defaultBody, h)
		s2, a2 := e.send(t, "shop", shopSecret, now.Add(time.Second), defaultBody, h)
		if s1 != 202 || s2 != 202 || a1.Reference != a2.Reference {
			t.Fatalf("repeat gave %d %s and %d %s", s1, a1.Reference, s2, a2.Reference)
		}
		if want := ingesttest.References().For(ingest.NewID(ingest.ChannelWebhook, "shop", "evt-1")); a1.Reference != want {
			t.Fatalf("reference %s, want %s", a1.Reference, want)
		}
		other := strings.Replace(defaultBody, "延误十天", "延误二十天", 1)
		if s, a := e.send(t, "shop", shopSecret, now, other, h); s != http.StatusConflict || a.Code != "idempotency_conflict" {
			t.Fatalf("different body under the same key: %d %+v", s, a)
		}
	})
	t.Run("content hash", func(t *testing.T) {
		e := newTestEnv(t, testConfig())
		body := `{"phone":"13700001111","description":"没有编号的投诉"}`
		reformatted := "{ \"description\": \"没有编号的投诉\",\n \"phone\": \"13700001111\", \"sent_at\": \"now\" }"
		_, a1 := e.send(t, "shop", shopSecret, now, body, nil)
		_, a2 := e.send(t, "shop", shopSecret, now, reformatted, nil)
		_, a3 := e.send(t, "shop", shopSecret, now, `{"phone":"13700001111","description":"另一条投诉"}`, nil)
		if a1.Reference == "" || a1.Reference != a2.Reference || a3.Reference == a1.Reference {
			t.Fatalf("references %q %q %q", a1.Reference, a2.Reference, a3.Reference)
		}
	})
	t.Run("key on another replica", func(t *testing.T) {
		// The key's first content is in the shared ledger: any replica
		// refuses other content under it and answers a repeat alike.
		ledger := &memLedger{}
		a, b := newTestEnvSharing(t, testConfig(), ledger), newTestEnvSharing(t, testConfig(), ledger)
		h := map[string]string{HeaderIdempotency: "crm-20261206-0042"}
		_, first := a.send(t, "shop", shopSecret, now, defaultBody, h)
		other := strings.Replace(defaultBody, "延误十天", "延误二十天", 1)
		tests := []struct {
			name   string
			body   string
			status int
		}{
			{"same body", defaultBody, http.StatusAccepted},
			{"other body", other, http.StatusConflict},
		}
		for _, tt := range tests {
			s, got := b.send(t, "shop", shopSecret, now.Add(time.Second), tt.body, h)
			if s != tt.status || (s == http.StatusAccepted && got.Reference != first.Reference) {
				t.Errorf("%s on replica B: %d %+v, want %d (first reference %s)", tt.name, s, got, tt.status, first.Reference)
			}
		}
		if n := len(b.pub.Published()); n != 1 {
			t.Errorf("replica B published %d, want the repeat only", n)
		}
	})
	t.Run("ledger down", func(t *testing.T) {
		e := newTestEnvSharing(t, testConfig(), &memLedger{fail: errors.New("gateway.ledger: not enough replicas")})
		s, a := e.send(t, "shop", shopSecret, now, defaultBody, map[string]string{HeaderIdempotency: "evt-9"})
		if s != http.StatusServiceUnavailable || !a.Retryable || len(e.pub.Published()) != 0 {
			t.Fatalf("%d %+v, %d published; want 503, retryable, nothing published", s, a, len(e.pub.Published()))
		}
	})
	t.Run("same source_id, other source", func(t *testing.T) {
		e := newTestEnv(t, testConfig())
		_, a1 := e.send(t, "shop", shopSecret, now, `{"phone":"13700001111","description":"x","source_id":"1"}`, nil)
		_, a2 := e.send(t, "partner", partnerSecret, now, `{"customer":{"mobile":"13700001111"},"data":{"items":[{"text":"x"}]},"ticket_no":"1"}`, nil)
		if a1.Reference == "" || a1.Reference == a2.Reference {
			t.Fatalf("sources share reference %q", a1.Reference)
		}
	})
}

// TestWebhookUnknownSourceLooksKnown: whatever the headers, a source that
// is not configured gets the very answer (status and body) a configured
// one gets when the signature does not match.
func TestWebhookUnknownSourceLooksKnown(t *testing.T) {
	e := newTestEnv(t, testConfig())
	now := time.Now()
	tests := []struct {
		name    string
		headers map[string]string
	}{
		{"signed with another secret", nil},
		{"no signature", map[string]string{HeaderSignature: ""}},
		{"no timestamp", map[string]string{HeaderTimestamp: ""}},
		{"no headers", map[string]string{HeaderSignature: "", HeaderTimestamp: ""}},
		{"garbage signature", map[string]string{HeaderSignature: "sha256=00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			knownStatus, known := e.send(t, "shop", "wrong-secret-0123456789", now, defaultBody, tt.headers)
			unknownStatus, unknown := e.send(t, "nobody", "wrong-secret-0123456789", now, defaultBody, tt.headers)
			if knownStatus != 401 || knownStatus != unknownStatus || known != unknown {
				t.Errorf("known source: %d %+v; unknown: %d %+v", knownStatus, known, unknownStatus, unknown)
			}
		})
	}
}

// TestWebhookReplayUnderNewKey: a signed request replayed within the
// tolerance with another Idempotency-Key (or none) is the same complaint.
func TestWebhookReplayUnderNewKey(t *testing.T) {
	e := newTestEnv(t, testConfig())
	now := time.Now()
	_, first := e.send(t, "shop", shopSecret, now, defaultBody, map[string]string{HeaderIdempotency: "evt-1"})
	for _, key := range []string{"evt-2", "evt-3", ""} {
		status, a := e.send(t, "shop", shopSecret, now, defaultBody, map[string]string{HeaderIdempotency: key})
		if status != 202 || a.Reference != first.Reference {
			t.Errorf("replay with key %q: %d %+v, want the reference %s", key, status, a, first.Reference)
		}
	}
	// Signed anew, the same key is still the same complaint, and another
	// key another one.
	_, again := e.send(t, "shop", shopSecret, now.Add(time.Second), defaultBody, map[string]string{HeaderIdempotency: "evt-1"})
	_, other := e.send(t, "shop", shopSecret, now.Add(2*time.Second), defaultBody, map[string]string{HeaderIdempotency: "evt-9"})
	if again.Reference != first.Reference || other.Reference == first.Reference {
		t.Errorf("references %s, %s, %s", first.Reference, again.Reference, other.Reference)
	}
}

func TestWebhookPublishFailure(t *testing.T) {
	e := newTestEnv(t, testConfig())
	e.pub.Fail(errors.New("broker down"))
	status, a := e.send(t, "shop", shopSecret, time.Now(), defaultBody, nil)
	if status != http.StatusServiceUnavailable || !a.Retryable || a.Reference != "" || !strings.Contains(a.Error, "系统繁忙") {
		t.Fatalf("got %d %+v", status, a)
	}
	if got := e.takeRefused(); len(got) != 0 {
		t.Errorf("a broker failure counted as a refusal: %q (the publish counts it)", got)
	}
	// Once the broker is back, the retry is accepted with the same key.
	e.pub.Fail(nil)
	if status, a := e.send(t, "shop", shopSecret, time.Now(), defaultBody, nil); status != 202 || a.Reference == "" {
		t.Fatalf("retry got %d %+v", status, a)
	}
}

func TestSign(t *testing.T) {
	// Computed independently (Python hmac): HMAC-SHA256("0123456789abcdef", "1700000000.{}").
	const want = "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
	got := Sign([]byte("0123456789abcdef"), "1700000000", []byte("{}"))
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if got == Sign([]byte("0123456789abcdeX"), "1700000000", []byte("{}")) ||
		got == Sign([]byte("0123456789abcdef"), "1700000001", []byte("{}")) ||
		got == Sign([]byte("0123456789abcdef"), "1700000000", []byte("{ }")) {
		t.Fatal("signature ignores part of its input")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // the error, "" for valid
	}{
		{"empty", Config{}, ""},
		{"default", DefaultConfig(), ""},
		{"test config", testConfig(), ""},
		{"upper-case name", Config{Sources: map[string]SourceConfig{"Shop": {Secret: secret.Inline(shopSecret)}}}, "sources.Shop: source names are 1 to 64 of a-z, 0-9, _ and -"},
		{"no secret", Config{Sources: map[string]SourceConfig{"shop": {}}}, "sources.shop.secret: secret or secret_file is required"},
		{"short secret", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline("short")}}}, "sources.shop.secret: must be at least 16 bytes"},
		{"both secrets", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), SecretFile: "/x"}}}, "sources.shop.secret: set secret or secret_file, not both"},
		{"short previous secret", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), PreviousSecret: secret.Inline("old")}}}, "sources.shop.previous_secret: must be at least 16 bytes"},
		{"previous secret twice", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), PreviousSecret: secret.Inline(shopOldSecret), PreviousSecretFile: "/x"}}}, "sources.shop.previous_secret: set previous_secret or previous_secret_file, not both"},
		{"previous secret equal", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), PreviousSecret: secret.Inline(shopSecret)}}}, "sources.shop.previous_secret: the same as secret; remove it"},
		{"unknown field", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), Mapping: map[string]string{"mobile": "a"}}}}, "sources.shop.mapping.mobile: unknown field (known: name, phone, email, subject, description, source_id, occurred_at)"},
		{"bad path", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), Mapping: map[string]string{"phone": "a..b"}}}}, `sources.shop.mapping.phone: path "a..b" has an empty part`},
		{"html field", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), HTML: []string{"description", "subject"}}}}, ""},
		{"html name", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), HTML: []string{"description", "name"}}}}, `sources.shop.html[1]: "name" is not a field that can be HTML (subject, description)`},
		{"rate limit", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), RateLimit: 600, RateWindow: time.Minute}}}, ""},
		{"negative rate limit", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), RateLimit: -1}}}, "sources.shop.rate_limit: must not be negative"},
		{"rate window over an hour", Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Inline(shopSecret), RateLimit: 5, RateWindow: 2 * time.Hour}}}, "sources.shop.rate_window: 2h0m0s must be from 1s to 1h0m0s"},
		{"negative body", Config{MaxBodyBytes: -1}, "max_body_bytes: must not be negative"},
		{"negative tolerance", Config{Tolerance: -time.Second}, "tolerance: must not be negative"},
	}
	for _, tt := range tests {
		for _, provision := range []bool{false, true} {
			cfg := tt.cfg
			if provision {
				cfg.Provision()
			}
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%s: %v", tt.name, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("%s (provisioned %v): error %v, want %q", tt.name, provision, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), shopSecret) {
				t.Errorf("%s: error reveals the secret", tt.name)
			}
		}
	}
}

func TestResolveSecretFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	short := filepath.Join(dir, "short")
	os.WriteFile(good, []byte(shopSecret+"\n"), 0o600)
	os.WriteFile(short, []byte("abc\n"), 0o600)

	cfg := Config{Sources: map[string]SourceConfig{"shop": {SecretFile: "good"}}}
	cfg.Provision()
	if err := cfg.ResolveSecrets(dir, nil); err != nil {
		t.Fatal(err)
	}
	if cfg.Sources["shop"].Secret.Reveal() != shopSecret {
		t.Fatal("secret file not read")
	}
	e := newTestEnv(t, cfg)
	if status, a := e.send(t, "shop", shopSecret, time.Now(), defaultBody, nil); status != 202 {
		t.Fatalf("secret from file refused: %d %+v", status, a)
	}
	for _, tt := range []struct{ file, want string }{
		{short, "sources.shop.secret_file: must be at least 16 bytes"},
		{filepath.Join(dir, "missing"), "sources.shop.secret_file: open " + filepath.Join(dir, "missing")},
	} {
		cfg := Config{Sources: map[string]SourceConfig{"shop": {SecretFile: tt.file}}}
		cfg.Provision()
		err := errors.Join(cfg.ResolveSecrets(dir, nil), cfg.Validate())
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.file, err, tt.want)
		}
	}
	unresolved := Config{Sources: map[string]SourceConfig{"shop": {Secret: secret.Secret{Env: "TOUSU_TEST_UNSET_7f3a"}}}}
	unresolved.Provision()
	if _, err := New(unresolved, webform.Shared{References: ingesttest.References(), Ledger: &memLedger{}}, (&ingesttest.Recorder{}).Publish, nil, nil); err == nil || err.Error() != "webhook: sources.shop.secret: the environment variable TOUSU_TEST_UNSET_7f3a is not set" {
		t.Errorf("New with a secret it cannot read: %v", err)
	}
}

func TestKeyCacheEvicts(t *testing.T) {
	c := newKeyCache(2)
	c.put("a", "1")
	c.put("b", "2")
	c.get("a") // a is now the most recent
	c.put("c", "3")
	if _, ok := c.get("b"); ok {
		t.Fatal("least recently used entry kept")
	}
	if v, ok := c.get("a"); !ok || v != "1" {
		t.Fatal("recent entry evicted")
	}
}

func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		defaultBody,
		`{"customer":{"mobile":13912345678},"data":{"items":[{"text":"x"}],"created":1777593600}}`,
		`{"data":{"items":{"0":{"text":"map, not array"}}}}`,
		`{"occurred_at":1e300}`, `{"occurred_at":-1}`, `{"occurred_at":"2026-05-01T08:00:00Z"}`,
		`[]`, `null`, `{"a":`, "{\"description\":\"\xff\"}", `{"description":"\ud800"}`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	mapped := newFieldPaths(testConfig().Sources["partner"].Mapping)
	plain := newFieldPaths(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, paths := range []fieldPaths{mapped, plain} {
			p, err := parsePayload(body, paths)
			var fe *ingest.FieldError
			if err != nil && !errors.Is(err, errBadJSON) && !errors.As(err, &fe) {
				t.Fatalf("unexpected error kind %T: %v", err, err)
			}
			if err != nil {
				continue
			}
			env := ingest.Envelope{Name: p.Name, Phone: p.Phone, Email: p.Email, Subject: p.Subject, Description: p.Description}
			env.Validate()
			if len(p.SourceID) > MaxSourceIDBytes {
				t.Fatalf("source_id of %d bytes accepted", len(p.SourceID))
			}
		}
	})
}

// TestWebhookRateLimit: a source's authentic requests past its rate_limit
// are answered 429 with Retry-After on every replica sharing the records;
// requests that fail the signature do not use up its budget, and another
// source is not affected.
func TestWebhookRateLimit(t *testing.T) {
	cfg := testConfig()
	shop := cfg.Sources["shop"]
	shop.RateLimit, shop.RateWindow = 2, time.Minute
	cfg.Sources["shop"] = shop
	ledger := &memLedger{}
	a, b := newTestEnvSharing(t, cfg, ledger), newTestEnvSharing(t, cfg, ledger)
	now := time.Now()
	body := func(n int) string {
		return fmt.Sprintf(`{"phone":"13700001111","description":"订单%d 快递十天没到，客服电话打不通","source_id":"T-%d"}`, n, n)
	}
	if status, _ := a.send(t, "shop", "forged-secret-0123456789", now, body(0), nil); status != 401 {
		t.Fatalf("forged request: %d", status)
	}
	var codes []int
	for i, e := range []*testEnv{a, b, a} {
		status, ans := e.send(t, "shop", shopSecret, now, body(i+1), nil)
		codes = append(codes, status)
		if status == http.StatusTooManyRequests && (ans.Code != "rate_limited" || !ans.Retryable) {
			t.Errorf("429 answer %+v", ans)
		}
	}
	if codes[0] != 202 || codes[1] != 202 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v, want [202 202 429]", codes)
	}
	if status, _ := b.send(t, "partner", partnerSecret, now, `{"customer":{"mobile":"13700001111"},"data":{"items":[{"text":"宽带断网三天"}]}}`, nil); status != 202 {
		t.Errorf("another source: %d, want 202", status)
	}
}

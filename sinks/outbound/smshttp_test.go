package outbound

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

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
)

const relaySecret = "relay-secret-2026-zhangjiang"

var sentAt = time.Date(2026, 3, 5, 9, 12, 0, 0, time.UTC)

// ackSMS is the acknowledgement of a web-form complaint by SMS.
func ackSMS() router.Outgoing {
	return router.Outgoing{
		V: router.OutboxVersion, ID: "TS20260305-0042/ack/1", Kind: router.MessageAck, Medium: router.MediumSMS,
		Case: "TS20260305-0042", Customer: "phone:+8613812345678", Reference: "TS20260305-0042", Pack: "telecom@1",
		To:   "+8613812345678",
		Text: "您的投诉已受理，受理编号TS20260305-0042，我们将在2026年3月11日前答复您。查询：https://tousu.example.com/status?ref=TS20260305-0042&t=9f2c",
		Params: map[string]string{"reference": "TS20260305-0042", "deadline": "2026年3月11日",
			"status_url": "https://tousu.example.com/status?ref=TS20260305-0042&t=9f2c"},
		CreatedAt: sentAt,
	}
}

// relay is a test SMS relay answering status.
type relay struct {
	mu       sync.Mutex
	status   int
	requests []relayRequest
}

type relayRequest struct {
	header http.Header
	body   []byte
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rl.mu.Lock()
	rl.requests = append(rl.requests, relayRequest{r.Header.Clone(), body})
	status := rl.status
	rl.mu.Unlock()
	w.WriteHeader(status)
	io.WriteString(w, `{"error":"号码 13812345678 已退订"}`)
}

func (rl *relay) received() []relayRequest {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]relayRequest(nil), rl.requests...)
}

func newRelay(tb testing.TB, status int) (*relay, *httptest.Server) {
	tb.Helper()
	rl := &relay{status: status}
	srv := httptest.NewServer(rl)
	tb.Cleanup(srv.Close)
	return rl, srv
}

func newTestSMSHTTP(tb testing.TB, url string, logger *zap.Logger) *SMSHTTP {
	tb.Helper()
	cfg := SMSConfig{Provider: ProviderHTTP, HTTP: SMSHTTPConfig{URL: url, Secret: secret.Inline(relaySecret)}}
	cfg.Provision()
	s, err := NewSMSHTTP(cfg.HTTP, nil, logger)
	if err != nil {
		tb.Fatal(err)
	}
	s.now = func() time.Time { return sentAt }
	return s
}

func TestSMSHTTPSignedRequest(t *testing.T) {
	rl, srv := newRelay(t, http.StatusAccepted)
	core, logs := observer.New(zap.DebugLevel)
	s := newTestSMSHTTP(t, srv.URL+"/sms/send", zap.New(core))
	m := ackSMS()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rl.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	ts := r.header.Get(HeaderTimestamp)
	if ts != strconv.FormatInt(sentAt.Unix(), 10) || r.header.Get(HeaderMessageID) != m.ID || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", r.header)
	}
	// The alert webhooks' scheme, computed independently.
	mac := hmac.New(sha256.New, []byte(relaySecret))
	mac.Write([]byte(ts + "." + string(r.body)))
	if got, want := r.header.Get(HeaderSignature), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": m.ID, "to": "+8613812345678", "text": m.Text, "kind": "ack", "reference": "TS20260305-0042",
		"params": map[string]any{"reference": "TS20260305-0042", "deadline": "2026年3月11日", "status_url": m.Params["status_url"]}}
	if !jsonEqual(got, want) {
		t.Errorf("body %s", r.body)
	}
	if !strings.Contains(string(r.body), "ref=TS20260305-0042&t=9f2c") {
		t.Errorf("the status link is escaped: %s", r.body)
	}
	for _, e := range logs.All() {
		if b, _ := json.Marshal(e.ContextMap()); strings.Contains(e.Message+string(b), "13812345678") {
			t.Errorf("the log shows the number: %s %s", e.Message, b)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestSMSHTTPStatus(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{200, "ok"}, {202, "ok"}, {204, "ok"},
		{301, "permanent"}, {302, "permanent"},
		{400, "permanent"}, {401, "permanent"}, {403, "permanent"}, {404, "permanent"}, {422, "permanent"},
		{408, "temporary"}, {429, "temporary"}, {500, "temporary"}, {502, "temporary"}, {503, "temporary"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			_, srv := newRelay(t, tt.status)
			err := newTestSMSHTTP(t, srv.URL+"/relay/TOKEN-7731", nil).Send(context.Background(), ackSMS())
			if got := outcome(err); got != tt.want {
				t.Fatalf("status %d: %s (%v), want %s", tt.status, got, err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "13812345678") || strings.Contains(err.Error(), "TOKEN-7731") || strings.Contains(err.Error(), "退订")) {
				t.Fatalf("the error shows the number, the URL or the answer: %v", err)
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
		return "temporary"
	}
}

func TestSMSHTTPUnreachableAndSlow(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	err := newTestSMSHTTP(t, down.URL+"/relay?token=TOKEN-7731", nil).Send(context.Background(), ackSMS())
	if outcome(err) != "temporary" || strings.Contains(err.Error(), "TOKEN-7731") {
		t.Fatalf("unreachable relay: %v", err)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	s := newTestSMSHTTP(t, slow.URL, nil)
	s.timeout = 20 * time.Millisecond
	if err := s.Send(context.Background(), ackSMS()); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPermanent) {
		t.Fatalf("slow relay: %v, want a temporary deadline error", err)
	}
}

func TestSMSHTTPRefusesWhatIsNotAnSMS(t *testing.T) {
	rl, srv := newRelay(t, http.StatusOK)
	s := newTestSMSHTTP(t, srv.URL, nil)
	mail := ackSMS()
	mail.Medium, mail.To = router.MediumEmail, "zhang.wei@example.com"
	noNumber := ackSMS()
	noNumber.To = ""
	for _, m := range []router.Outgoing{mail, noNumber} {
		if err := s.Send(context.Background(), m); !errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), "zhang.wei") {
			t.Errorf("Send(%s) = %v, want a permanent error without the address", m.Medium, err)
		}
	}
	if n := len(rl.received()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

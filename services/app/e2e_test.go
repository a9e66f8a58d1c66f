package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/caseindex"
)

const (
	testToken         = "test-admin-token-0123456789"
	testWebhookSecret = "acme-webhook-secret-0123456789"
)

// running is a tousu process started by a test.
type running struct {
	*Process
	base   string
	cancel context.CancelFunc
	done   chan error
}

// startTousu starts every target in-process on dataDir, listening on a
// free loopback port, with an admin token and the webhook source "acme";
// edit changes the configuration first (and may choose the port).
func startTousu(tb testing.TB, dataDir string, edit ...func(*Config)) *running {
	tb.Helper()
	// The caller's edits come last: they may choose the listen address.
	edit = append([]func(*Config){func(c *Config) { c.DataDir, c.HTTP.Listen = dataDir, "127.0.0.1:0" }}, edit...)
	return runTargets(tb, nil, edit...)
}

// stop ends the process and waits for it.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// api sends a JSON request with the admin token and decodes the answer.
func (r *running) api(tb testing.TB, method, path string, body any, headers map[string]string, out any) int {
	tb.Helper()
	return r.apiAs(tb, testToken, method, path, body, headers, out)
}

// apiAs is api with another bearer token; an empty one sends none.
func (r *running) apiAs(tb testing.TB, token, method, path string, body any, headers map[string]string, out any) int {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(tb, req, out)
}

func do(tb testing.TB, req *http.Request, out any) int {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: decode %q: %v", req.Method, req.URL, b, err)
		}
	}
	return resp.StatusCode
}

// submit posts a complaint to the JSON API and returns its reference.
func (r *running) submit(tb testing.TB, description, idempotencyKey string) string {
	tb.Helper()
	var out struct{ Reference string }
	headers := map[string]string{}
	if idempotencyKey != "" {
		headers["Idempotency-Key"] = idempotencyKey
	}
	body := map[string]string{"name": "李四", "phone": "13912345678", "subject": "投诉", "description": description}
	if code := r.api(tb, http.MethodPost, "/api/v1/complaints", body, headers, &out); code != http.StatusAccepted || out.Reference == "" {
		tb.Fatalf("submit: status %d, reference %q", code, out.Reference)
	}
	return out.Reference
}

// search queries the console API.
func (r *running) search(tb testing.TB, query url.Values) caseindex.Result {
	tb.Helper()
	var res caseindex.Result
	if code := r.api(tb, http.MethodGet, "/api/v1/cases?"+query.Encode(), nil, nil, &res); code != http.StatusOK {
		tb.Fatalf("search %v: status %d", query, code)
	}
	return res
}

// waitFor polls the console API until the query has want hits. The wait
// bounds a pipeline that never delivers; it is not a speed assertion.
func (r *running) waitFor(tb testing.TB, query url.Values, want int) caseindex.Result {
	tb.Helper()
	var res caseindex.Result
	if !polltest.Within(polltest.Patience, func() bool {
		res = r.search(tb, query)
		return res.Total == want
	}) {
		tb.Fatalf("query %v: %d hits, want %d: %+v", query, res.Total, want, res.Hits)
	}
	return res
}

func TestEndToEndJSONAPI(t *testing.T) {
	r := startTousu(t, t.TempDir())
	ref := r.submit(t, "手机信号差了三天，打电话总是断线", "")
	res := r.waitFor(t, url.Values{"q": {"信号差"}}, 1)
	c := res.Hits[0]
	if c.ID != ref || len(c.References) != 1 || c.References[0] != ref {
		t.Errorf("hit = %+v, want case %s", c, ref)
	}
	if c.Channel != "api" || c.Category != "网络问题" || c.Status != router.StatusOpen || c.Deadline.IsZero() {
		t.Errorf("hit = %+v", c)
	}
	if c.Customer.Phone != "+8613912345678" {
		t.Errorf("admin sees phone %q, want it in full", c.Customer.Phone)
	}
	if res.Facets["channel"]["api"] != 1 {
		t.Errorf("facets = %v", res.Facets)
	}
	// Without quotes the terms may stand apart and one of four may be
	// missing (issue 12); quoted, the phrase is exact.
	if got := r.search(t, url.Values{"q": {"信号很差"}}); got.Total != 1 {
		t.Errorf("q=信号很差: %d hits, want 1", got.Total)
	}
	if got := r.search(t, url.Values{"q": {`"信号很差"`}}); got.Total != 0 {
		t.Errorf(`q="信号很差": %d hits`, got.Total)
	}
	var one router.Case
	if code := r.api(t, http.MethodGet, "/api/v1/cases/"+ref, nil, nil, &one); code != http.StatusOK || one.ID != ref {
		t.Errorf("get case: %d %+v", code, one)
	}
	if code := r.api(t, http.MethodGet, "/api/v1/cases/TSNOSUCHCASE", nil, nil, nil); code != http.StatusNotFound {
		t.Errorf("get unknown case: %d", code)
	}
	// Idempotency: a retried submission is one case.
	first := r.submit(t, "宽带断网一整天", "retry-1")
	if again := r.submit(t, "宽带断网一整天", "retry-1"); again != first {
		t.Errorf("retry gave reference %s, first %s", again, first)
	}
	r.waitFor(t, url.Values{"q": {"断网"}}, 1)
}

func TestEndToEndAuth(t *testing.T) {
	r := startTousu(t, t.TempDir())
	for _, path := range []string{"/api/v1/cases", "/api/v1/cases/x"} {
		req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
		if code := do(t, req, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d", path, code)
		}
		req.Header.Set("Authorization", "Bearer wrong-token-0123456789")
		if code := do(t, req, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d", path, code)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, r.base+"/api/v1/complaints", strings.NewReader(`{"description":"x","phone":"13800138000"}`))
	req.Header.Set("Content-Type", "application/json")
	if code := do(t, req, nil); code != http.StatusUnauthorized {
		t.Errorf("POST complaint without token: %d", code)
	}
	var bad map[string]any
	if code := r.api(t, http.MethodGet, "/api/v1/cases?sort=sideways", nil, nil, &bad); code != http.StatusBadRequest {
		t.Errorf("bad sort: %d %v", code, bad)
	}
}

// signedWebhook posts body to the acme source, signed with secret.
func (r *running) signedWebhook(tb testing.TB, secret, body, idempotencyKey string, out any) int {
	tb.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, r.base+"/webhooks/acme", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tousu-Timestamp", ts)
	req.Header.Set("X-Tousu-Signature", webhook.Sign([]byte(secret), ts, []byte(body)))
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	return do(tb, req, out)
}

func TestEndToEndWebhook(t *testing.T) {
	r := startTousu(t, t.TempDir())
	body := `{"name":"王五","phone":"+86 137 0000 1111","subject":"乱收费","description":"本月账单多收了30元流量费","source_id":"acme-42","occurred_at":"2026-11-20T08:00:00+08:00"}`
	var first, second struct{ Reference string }
	if code := r.signedWebhook(t, testWebhookSecret, body, "evt-1", &first); code != http.StatusAccepted || first.Reference == "" {
		t.Fatalf("signed webhook: %d %+v", code, first)
	}
	if code := r.signedWebhook(t, "not-the-secret-0123456789", body, "evt-2", nil); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d, want 401", code)
	}
	if code := r.signedWebhook(t, testWebhookSecret, body, "evt-1", &second); code != http.StatusAccepted || second.Reference != first.Reference {
		t.Errorf("replayed idempotency key: %d %s, want %s", code, second.Reference, first.Reference)
	}
	res := r.waitFor(t, url.Values{"q": {"多收"}}, 1)
	if c := res.Hits[0]; c.ID != first.Reference || c.Channel != "webhook" || c.Source != "acme" || c.Category != "费用问题" {
		t.Errorf("case = %+v", c)
	}
	// Wait for anything in flight, then check there is still one case.
	r.waitFor(t, url.Values{"channel": {"webhook"}}, 1)
}

// formSession is a browser-like client of the web form.
type formSession struct {
	client *http.Client
	base   string
}

func newFormSession(tb testing.TB, base string) *formSession {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &formSession{client: &http.Client{Jar: jar}, base: base}
}

var hiddenInput = regexp.MustCompile(`name="(_csrf|nonce|consent)" value="([^"]*)"`)

// get loads a page and returns its hidden fields.
func (s *formSession) get(tb testing.TB, path string) map[string]string {
	tb.Helper()
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	fields := map[string]string{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
		fields[m[1]] = m[2]
	}
	if fields["_csrf"] == "" {
		tb.Fatalf("GET %s: no CSRF token in %s", path, page)
	}
	return fields
}

// post sends a multipart form and returns the status and page.
func (s *formSession) post(tb testing.TB, path string, fields map[string]string, fileName string, file []byte) (int, string) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	if file != nil {
		fw, err := w.CreateFormFile("attachment", fileName)
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(file)
	}
	w.Close()
	resp, err := s.client.Post(s.base+path, w.FormDataContentType(), &buf)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page)
}

var referenceOnPage = regexp.MustCompile(`id="reference">(TS[0-9A-Z]+)<`)

func TestEndToEndWebFormAndStatusPage(t *testing.T) {
	r := startTousu(t, t.TempDir())
	s := newFormSession(t, r.base)
	fields := s.get(t, "/")
	fields["name"], fields["phone"], fields["email"] = "赵六", "138 0013 8000", "zhao@example.com"
	fields["subject"], fields["description"] = "营业厅态度差", "营业厅工作人员态度很差，办理销户被推诿三次"
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 64)...)
	code, page := s.post(t, "/complaints", fields, "证据.png", png)
	m := referenceOnPage.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("submit: %d %s", code, page)
	}
	ref := m[1]
	res := r.waitFor(t, url.Values{"q": {"态度很差"}}, 1)
	c := res.Hits[0]
	if c.ID != ref || c.Channel != "webform" || len(c.Attachments) != 1 || c.Attachments[0].Size != int64(len(png)) || len(c.Attachments[0].SHA256) != 64 {
		t.Errorf("case = %+v", c)
	}
	// Re-posting the same rendered form is the same complaint.
	if _, again := s.post(t, "/complaints", fields, "", nil); !strings.Contains(again, ref) {
		t.Errorf("double submit gave another reference")
	}

	status := s.get(t, "/status")
	status["reference"], status["digits"] = ref, "8000"
	code, page = s.post(t, "/status", status, "", nil)
	if code != http.StatusOK || !strings.Contains(page, "已受理") || !strings.Contains(page, "年") {
		t.Errorf("status page: %d %s", code, page)
	}
	status = s.get(t, "/status")
	status["reference"], status["digits"] = ref, "1234"
	if code, page = s.post(t, "/status", status, "", nil); code == http.StatusOK || strings.Contains(page, "已受理") {
		t.Errorf("status with wrong digits: %d", code)
	}
	r.waitFor(t, url.Values{"channel": {"webform"}}, 1)
}

func TestEndToEndBadInput(t *testing.T) {
	r := startTousu(t, t.TempDir())
	cases := []struct {
		name string
		body string
		want int
	}{
		{"empty body", ``, http.StatusBadRequest},
		{"not utf-8", "{\"description\":\"\xff\xfe\",\"phone\":\"13800138000\"}", http.StatusBadRequest},
		{"empty description", `{"description":"","phone":"13800138000"}`, http.StatusUnprocessableEntity},
		{"no contact", `{"description":"信号差"}`, http.StatusUnprocessableEntity},
		{"oversized", `{"description":"` + strings.Repeat("长", 100000) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, r.base+"/api/v1/complaints", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		if code := do(t, req, nil); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
}

// TestMalformedMessagesGoToDeadLetters writes garbage into every pipeline
// topic: each lands in complaints.dlq with its reason and original bytes,
// and a complaint sent after them still reaches the index.
func TestMalformedMessagesGoToDeadLetters(t *testing.T) {
	r := startTousu(t, t.TempDir())
	ctx := context.Background()
	garbage := map[string][]byte{
		bus.TopicRaw:        []byte("not json"),
		bus.TopicNormalized: []byte(`{"v":99,"id":"x"}`),
		bus.TopicCases:      []byte(`{"v":1,"id":""}`),
	}
	for topic, value := range garbage {
		if err := r.producer.Write(ctx, bus.Message{Topic: topic, Key: []byte("k"), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	r.submit(t, "garbage before me: 信号差", "")
	r.waitFor(t, url.Values{"q": {"信号差"}}, 1)

	letters := readDeadLetters(t, r.cfg.Bus, r.producer, len(garbage))
	for _, dl := range letters {
		want, ok := garbage[dl.Topic]
		if !ok || !bytes.Equal(dl.Original, want) || dl.Reason == "" {
			t.Errorf("dead letter %+v, want the original bytes of %s and a reason", dl, dl.Topic)
		}
		delete(garbage, dl.Topic)
	}
	if len(garbage) != 0 {
		t.Errorf("no dead letter for %v", garbage)
	}
}

// readDeadLetters reads n records from complaints.dlq in a group of its own.
func readDeadLetters(tb testing.TB, cfg bus.Config, producer *bus.Producer, n int) []bus.DeadLetter {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan bus.DeadLetter, 16)
	c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: fmt.Sprintf("test-dlq-%d", time.Now().UnixNano()), Topic: bus.TopicDLQ}, producer,
		func(_ context.Context, m bus.Message) error {
			var dl bus.DeadLetter
			if err := json.Unmarshal(m.Value, &dl); err != nil {
				return err
			}
			got <- dl
			return nil
		}, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	go c.Run(ctx)
	var out []bus.DeadLetter
	for len(out) < n {
		select {
		case dl := <-got:
			out = append(out, dl)
		case <-ctx.Done():
			tb.Fatalf("read %d dead letters, want %d", len(out), n)
		}
	}
	return out
}

// TestRestartLosesNothing stops tousu right after receipts were issued and
// starts it again on the same data directory: every complaint reaches the
// index exactly once.
func TestRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	r := startTousu(t, dir)
	var refs []string
	for i := range 20 {
		refs = append(refs, r.submit(t, fmt.Sprintf("重启测试 第%d条 网速慢", i), ""))
	}
	r.stop()

	r = startTousu(t, dir)
	res := r.waitFor(t, url.Values{"q": {"重启测试"}, "limit": {"100"}}, len(refs))
	got := map[string]int{}
	for _, c := range res.Hits {
		got[c.ID]++
	}
	for _, ref := range refs {
		if got[ref] != 1 {
			t.Errorf("reference %s indexed %d times", ref, got[ref])
		}
	}
}

func TestLagEndpoint(t *testing.T) {
	r := startTousu(t, t.TempDir())
	r.submit(t, "积压测试：信号差", "")
	r.waitFor(t, url.Values{"q": {"积压测试"}}, 1)
	var out struct {
		Groups []struct {
			Group, Topic string
			Members      int
			Partitions   map[string]int64
			Total        int64
			Error        string
		}
	}
	// The indexer commits right after the index write: wait for that.
	polltest.Until(t, "lag 0 at /api/v1/ops/lag", func() bool {
		if code := r.api(t, http.MethodGet, "/api/v1/ops/lag", nil, nil, &out); code != http.StatusOK {
			t.Fatalf("/api/v1/ops/lag: %d", code)
		}
		var total int64
		for _, g := range out.Groups {
			total += g.Total
		}
		return total == 0
	})
	topics := 0
	for _, c := range consumers() {
		topics += len(c.topics)
	}
	if len(out.Groups) != topics {
		t.Fatalf("groups = %+v", out.Groups)
	}
	for _, g := range out.Groups {
		if g.Error != "" || g.Total != 0 || len(g.Partitions) != 6 || g.Members != 1 {
			t.Errorf("group %+v, want lag 0 on 6 partitions and this process's consumer attached", g)
		}
	}
}

// TestBrokerDownAnswers503 stops the broker under a running gateway: a
// submission gets 503 with Retry-After, never a receipt.
func TestBrokerDownAnswers503(t *testing.T) {
	r := startTousu(t, t.TempDir(), func(c *Config) { c.Webform.PublishTimeout = 2 * time.Second })
	r.submit(t, "broker still up", "")
	if err := r.broker.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, r.base+"/api/v1/complaints", strings.NewReader(`{"phone":"13800138000","description":"broker down"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("submission with the broker down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var ready map[string]any
	if code := r.api(t, http.MethodGet, "/readyz", nil, nil, &ready); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the broker down: %d %v", code, ready)
	}
}

// startPrinting starts every target on dir with edit applied to the
// configuration, and returns the process (the caller closes it) and what
// it printed at start.
func startPrinting(tb testing.TB, dir string, edit func(*Config)) (*Process, string) {
	tb.Helper()
	cfg, err := Load("", nil, func(c *Config) {
		c.DataDir, c.HTTP.Listen = dir, "127.0.0.1:0"
		if edit != nil {
			edit(c)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	targets, _ := ParseTargets("all", true)
	var out bytes.Buffer
	p, err := Start(context.Background(), cfg, targets, zap.NewNop(), &out)
	if err != nil {
		tb.Fatal(err)
	}
	return p, out.String()
}

// TestBootstrapToken: an embedded installation without a token gets one at
// first start, readable by its owner only, kept across restarts.
func TestBootstrapToken(t *testing.T) {
	dir := t.TempDir()
	start := func() string {
		p, out := startPrinting(t, dir, nil)
		p.Close()
		return out
	}
	out := start()
	path := filepath.Join(dir, "bootstrap-token")
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", info, err)
	}
	if !strings.Contains(out, "generated an admin API token in "+path) {
		t.Errorf("start printed %q", out)
	}
	first, _ := os.ReadFile(path)
	if out = start(); strings.Contains(out, "generated") || !strings.Contains(out, path) {
		t.Errorf("second start printed %q", out)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(first, again) || len(strings.TrimSpace(string(first))) < 32 {
		t.Errorf("token changed or too short: %q then %q", first, again)
	}
}

// TestBootstrapTokenBesideConfiguredTokens: configuring auth.tokens keeps
// the embedded installation's bootstrap admin token working as long as
// its file exists, and says so at start; deleting the file retires it
// (it is not made again while tokens are configured); a configured token
// named bootstrap (TOUSU_BOOTSTRAP_TOKEN) replaces it. The start log
// always says which tokens are accepted and how to get an admin's.
func TestBootstrapTokenBesideConfiguredTokens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bootstrap-token")
	agent := httpapi.Token{Name: "坐席1001", Token: secret.Inline("agent-1001-token-0123456789"), Role: httpapi.RoleAgent}
	envAdmin := httpapi.Token{Name: "bootstrap", Token: secret.Inline("env-admin-token-0123456789"), Role: httpapi.RoleAdmin}
	// start starts tousu with tokens and answers GET /api/v1/cases with
	// each of try, and what it printed.
	start := func(t *testing.T, tokens []httpapi.Token, try ...string) ([]int, string) {
		t.Helper()
		p, out := startPrinting(t, dir, func(c *Config) { c.Auth.Tokens = tokens })
		defer p.Close()
		var codes []int
		for _, token := range try {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/cases", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := p.server.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
		}
		return codes, out
	}
	_, _ = start(t, nil)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := strings.TrimSpace(string(b))
	tests := []struct {
		name   string
		remove bool // delete the token file first
		tokens []httpapi.Token
		codes  []int // with the bootstrap token, the agent's, the environment's admin token
		says   []string
	}{
		{"agents configured: the bootstrap token stays", false, []httpapi.Token{agent}, []int{200, 200, 401},
			[]string{"admin API token: " + path, "delete " + path + " to retire it", "1 configured, none of them an admin's"}},
		{"an admin token named bootstrap replaces it", false, []httpapi.Token{agent, envAdmin}, []int{401, 200, 200},
			[]string{path + " is not used", "2 configured; admin: bootstrap"}},
		{"the file deleted: retired, not made again", true, []httpapi.Token{agent}, []int{401, 200, 401},
			[]string{"1 configured, none of them an admin's (add one with role admin to auth.tokens, or set TOUSU_BOOTSTRAP_TOKEN)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.remove {
				os.Remove(path)
			}
			codes, out := start(t, tt.tokens, bootstrap, agent.Token.Reveal(), envAdmin.Token.Reveal())
			if !slices.Equal(codes, tt.codes) {
				t.Errorf("answers %v, want %v", codes, tt.codes)
			}
			for _, s := range tt.says {
				if !strings.Contains(out, s) {
					t.Errorf("start printed %q, want it to say %q", out, s)
				}
			}
			if _, err := os.Stat(path); tt.remove && err == nil {
				t.Errorf("the deleted bootstrap token was made again")
			}
		})
	}
}

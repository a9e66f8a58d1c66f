package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// postComplaint submits a complaint through the JSON API without an
// idempotency key; safe to call from any goroutine.
func postComplaint(r *running, phone, text string) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": "李四", "phone": phone, "subject": "投诉", "description": text})
	req, err := http.NewRequest(http.MethodPost, r.base+"/api/v1/complaints", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Reference string }
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusAccepted || out.Reference == "" {
		return "", fmt.Errorf("submit: status %d: %s", resp.StatusCode, b)
	}
	return out.Reference, nil
}

// submitConcurrently submits one complaint per phone, each started 10ms
// after the previous one, and returns the references in phone order.
func submitConcurrently(tb testing.TB, r *running, phones []string, text string) []string {
	tb.Helper()
	refs := make([]string, len(phones))
	errs := make([]error, len(phones))
	var wg sync.WaitGroup
	for i, phone := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i], errs[i] = postComplaint(r, phone, text)
		}()
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return refs
}

// waitCase polls the search API by reference until the case found
// satisfies ok. The wait bounds a pipeline that never delivers; it is not
// a speed assertion.
func (r *running) waitCase(tb testing.TB, reference string, ok func(router.Case) bool) router.Case {
	tb.Helper()
	var found []router.Case
	if !polltest.Within(polltest.Patience, func() bool {
		found = r.search(tb, url.Values{"reference": {reference}}).Hits
		return len(found) == 1 && ok(found[0])
	}) {
		var hits []string
		for _, c := range found {
			hits = append(hits, fmt.Sprintf("%s rev %d refs %v batch %q", c.ID, c.Revision, c.References, c.Batch))
		}
		tb.Fatalf("reference %s: the case never got there: %v", reference, hits)
	}
	return found[0]
}

// TestEndToEndDuplicateSubmissions: two identical submissions from one
// phone, 10ms apart and concurrent, through the JSON API without
// idempotency keys (so two complaints with different ids), give one case
// holding both references, and the customer's status lookup by the second
// reference finds it.
func TestEndToEndDuplicateSubmissions(t *testing.T) {
	r := startTousu(t, t.TempDir())
	const text = "家里宽带从昨晚开始断网，光猫红灯一直闪，打客服电话排了一个小时没人接"
	refs := submitConcurrently(t, r, []string{"13912345678", "139 1234 5678"}, text)
	if refs[0] == refs[1] {
		t.Fatalf("both submissions got reference %s: not two complaints", refs[0])
	}
	both := func(c router.Case) bool {
		return slices.Contains(c.References, refs[0]) && slices.Contains(c.References, refs[1])
	}
	c := r.waitCase(t, refs[1], both)
	if again := r.waitCase(t, refs[0], both); again.ID != c.ID {
		t.Errorf("reference %s finds case %s, reference %s finds %s", refs[0], again.ID, refs[1], c.ID)
	}
	if c.Duplicates != 1 || len(c.Complaints) != 2 || len(c.Contacts) != 1 || c.Revision != 2 && c.Revision != 1 {
		t.Errorf("case %+v", c)
	}
	if i := slices.IndexFunc(c.Explanation, func(x router.Explanation) bool { return x.Field == "duplicate" }); i < 0 {
		t.Errorf("no duplicate explanation: %+v", c.Explanation)
	}
	if res := r.search(t, url.Values{"q": {"光猫红灯"}}); res.Total != 1 {
		t.Errorf("%d cases for the text, want 1: %+v", res.Total, res.Hits)
	}

	// The reference of the complaint that joined the case names the case
	// in the console API too: reading it and acting on it.
	other := refs[0]
	if other == c.ID {
		other = refs[1]
	}
	var got router.Case
	if code := r.api(t, http.MethodGet, "/api/v1/cases/"+other, nil, nil, &got); code != http.StatusOK || got.ID != c.ID {
		t.Errorf("GET /api/v1/cases/%s: %d, case %q; want 200 and case %s", other, code, got.ID, c.ID)
	}
	var accepted struct{ Case string }
	if code := r.api(t, http.MethodPost, "/api/v1/cases/"+other+"/actions", map[string]string{"kind": "note", "note": "客户来电催问，已告知在处理"}, nil, &accepted); code != http.StatusAccepted || accepted.Case != c.ID {
		t.Errorf("a note on %s: %d, case %q; want 202 on case %s", other, code, accepted.Case, c.ID)
	}
	r.waitCase(t, c.ID, func(c router.Case) bool {
		return slices.ContainsFunc(c.History, func(e router.Event) bool { return strings.Contains(e.Note, "客户来电催问") })
	})

	// The customer's status page, with their own (second) reference.
	s := newFormSession(t, r.base)
	status := s.get(t, "/status")
	status["reference"], status["digits"] = refs[1], "5678"
	if code, page := s.post(t, "/status", status, "", nil); code != http.StatusOK || !strings.Contains(page, "已受理") || !strings.Contains(page, refs[1]) {
		t.Errorf("status page for %s: %d %s", refs[1], code, page)
	}
}

// TestEndToEndBatch: customers filing the same complaint form one batch
// incident; every case is flagged with it and it is alerted once.
func TestEndToEndBatch(t *testing.T) {
	r := startTousu(t, t.TempDir(), func(c *Config) { c.Normalize.Dedupe.BatchMinCustomers = 3 })
	group := fmt.Sprintf("test-alerts-%d", time.Now().UnixNano())
	notices := make(chan router.Notice, 16)
	ctx, cancel := context.WithCancel(context.Background())
	consumer, err := bus.NewConsumer(r.cfg.Bus, bus.ConsumerConfig{Group: group, Topic: bus.TopicAlerts}, r.producer,
		func(_ context.Context, m bus.Message) error {
			var n router.Notice
			if err := json.Unmarshal(m.Value, &n); err != nil {
				return err
			}
			notices <- n
			return nil
		}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go consumer.Run(ctx)
	t.Cleanup(func() { cancel(); consumer.Close() })

	const text = "我们小区从今天早上开始手机完全没有信号，打不了电话也上不了网，请尽快处理"
	refs := submitConcurrently(t, r, []string{"13900000001", "13900000002", "13900000003", "13900000004"}, text)
	var batch string
	for _, ref := range refs {
		c := r.waitCase(t, ref, func(c router.Case) bool { return c.Batch != "" })
		if batch == "" {
			batch = c.Batch
		}
		if c.Batch != batch || c.ID != ref {
			t.Errorf("case %s: batch %q, want %q", c.ID, c.Batch, batch)
		}
	}

	// Read the alerts topic to its end: the notices were written before
	// the flagged cases, so they are all there.
	var lag map[int]int64
	if !polltest.Within(polltest.Patience, func() bool {
		lag, err = bus.Lag(context.Background(), r.cfg.Bus, group, bus.TopicAlerts)
		var total int64
		for _, n := range lag {
			total += n
		}
		return err == nil && total == 0
	}) {
		t.Fatalf("alerts not consumed: lag %v %v", lag, err)
	}
	var got []router.Notice
	for len(notices) > 0 {
		got = append(got, <-notices)
	}
	if len(got) != 1 || got[0].Kind != router.NoticeBatch || got[0].Batch != batch || got[0].Customers != 3 || len(got[0].Cases) != 3 {
		t.Errorf("notices %+v, want one batch notice for %s with 3 cases", got, batch)
	}
}

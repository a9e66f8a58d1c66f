package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/stages/normalizer"
)

// dlqList is the answer of GET /api/v1/ops/dlq.
type dlqList struct {
	Total   int `json:"total"`
	Entries []struct {
		ID     string `json:"id"`
		Topic  string `json:"topic"`
		Reason string `json:"reason"`
	} `json:"entries"`
}

// replayAnswer is the answer of POST /api/v1/ops/dlq/replay.
type replayAnswer struct {
	Replayed int                   `json:"replayed"`
	Results  []deadletters.Outcome `json:"results"`
}

// TestDeadLetterReplayMakesOneCase: a complaint of a schema version the
// normalizer does not know lands in complaints.dlq, and replayed without
// a fix comes back as a new dead letter naming the first; a complaint the
// normalizer gave up on for a reason fixed since (a panic of a bug an
// upgrade fixed: its dead letter is written as the consumer writes one)
// replayed becomes exactly one case; replaying it again sends nothing,
// and its record read twice (two replicas replaying at once) is still
// one case holding one complaint.
func TestDeadLetterReplayMakesOneCase(t *testing.T) {
	r := startTousu(t, t.TempDir())
	ctx := context.Background()

	original, id := injectDeadLetters(t, r)

	var list dlqList
	polltest.Until(t, "both dead letters listed", func() bool {
		list = dlqList{}
		return r.api(t, http.MethodGet, httpapi.PathDeadLetters, nil, nil, &list) == http.StatusOK && list.Total == 2
	})
	byReason := map[string]string{}
	for _, e := range list.Entries {
		byReason[deadletters.ReasonClass(e.Reason)] = e.ID
	}
	poisonID, gaveUpID := byReason["invalid envelope"], byReason["handler panic"]
	if poisonID == "" || gaveUpID == "" {
		t.Fatalf("entries %+v, want the normalizer's rejection and the panic", list.Entries)
	}

	replay := func(body any) replayAnswer {
		t.Helper()
		var out replayAnswer
		if code := r.api(t, http.MethodPost, httpapi.PathDeadLetters+"/replay", body, nil, &out); code != http.StatusOK {
			t.Fatalf("replay %v: %d", body, code)
		}
		return out
	}
	if out := replay(map[string][]string{"ids": {gaveUpID}}); out.Replayed != 1 {
		t.Fatalf("replay %s: %+v", gaveUpID, out)
	}
	r.waitFor(t, url.Values{"q": {"师傅上门两次"}}, 1)
	if out := replay(map[string][]string{"ids": {gaveUpID}}); out.Replayed != 0 || out.Results[0].Status != deadletters.StatusAlready {
		t.Errorf("second replay %+v, want already replayed", out)
	}

	// Unfixed, the poison comes back as a dead letter of its own.
	if out := replay(map[string]string{"reason": "invalid envelope"}); out.Replayed != 1 || out.Results[0].ID != poisonID {
		t.Fatalf("replay by reason: %+v, want %s", out, poisonID)
	}
	polltest.Until(t, "the replayed poison dead-lettered again", func() bool {
		list = dlqList{}
		return r.api(t, http.MethodGet, httpapi.PathDeadLetters+"?reason=invalid+envelope", nil, nil, &list) == http.StatusOK && len(list.Entries) == 2
	})
	var again httpapi.DeadLetterView
	if code := r.api(t, http.MethodGet, httpapi.PathDeadLetters+"/"+list.Entries[0].ID, nil, nil, &again); code != http.StatusOK ||
		again.Headers[deadletters.HeaderReplayOf] != poisonID {
		t.Errorf("the poison's second dead letter %d %+v, want it to name %s", code, again, poisonID)
	}

	// The same record read twice: the normalizer's seen file drops it.
	if err := r.producer.Write(ctx, bus.Message{Topic: bus.TopicRaw, Key: []byte(id), Value: original,
		Headers: map[string]string{deadletters.HeaderReplayOf: gaveUpID}}); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the pipeline drained", func() bool {
		for _, g := range r.pipelineLag(ctx) {
			if g.Error != "" || g.Total != 0 {
				return false
			}
		}
		return true
	})
	if res := r.search(t, url.Values{"q": {"师傅上门两次"}}); res.Total != 1 || len(res.Hits[0].Complaints) != 1 {
		t.Errorf("cases %+v, want one holding one complaint", res.Hits)
	}
}

// injectDeadLetters writes to the pipeline of r a complaint of a schema
// version the normalizer does not know, which it dead-letters, and the
// dead letter of a complaint the normalizer gave up on for a reason fixed
// since (a panic of a bug an upgrade fixed), as the consumer writes one;
// it returns that complaint's original bytes and envelope id.
func injectDeadLetters(tb testing.TB, r *running) (original []byte, id string) {
	tb.Helper()
	ctx := context.Background()
	poison := []byte(`{"v":2,"id":"webform:v2-0001","reference":"TS-V2","channel":"webform","description":"新版表单 12月1日起网速只有2M"}`)
	if err := r.producer.Write(ctx, bus.Message{Topic: bus.TopicRaw, Key: []byte("webform:v2-0001"), Value: poison}); err != nil {
		tb.Fatal(err)
	}
	id = ingest.NewID(ingest.ChannelWebForm, "", "dlq-e2e-1")
	env := ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelWebForm,
		ReceivedAt: time.Now().UTC(), Name: "赵敏", Phone: "139 1234 5678", Subject: "宽带",
		Description: "宽带12月2号开始断断续续，师傅上门两次都没修好，客服说48小时内回电 至今没人联系"}
	original, err := json.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	gaveUp := bus.DeadLetter{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Key: []byte(id), Reason: "handler panic: runtime error: index out of range [3] with length 3",
		Original: original, OriginalSize: len(original), At: time.Now().UTC(), Group: normalizer.Group, Headers: map[string]string{"trace": "e2e"}}
	letter, err := json.Marshal(gaveUp)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.producer.Write(ctx, bus.Message{Topic: bus.TopicDLQ, Key: []byte(id), Value: letter}); err != nil {
		tb.Fatal(err)
	}

	return original, id
}

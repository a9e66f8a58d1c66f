package router

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

func relatedComplaint(id string, at time.Time) normalize.Complaint {
	return normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: at, Customer: normalize.Customer{Key: "phone:+8613912345678"}, Description: "手机信号差了三天",
		Attachments: []ingest.Attachment{{Name: id + ".png"}}}
}

func TestAttach(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := relatedComplaint("api:1", t0)
	base := Case{V: SchemaVersion, ID: first.Reference, Revision: 1, References: []string{first.Reference}, Complaints: []string{first.ID},
		Status: StatusOpen, ReceivedAt: t0, UpdatedAt: t0, Route: Route{Department: "客服部", Owner: "张三"}}
	second := relatedComplaint("api:2", t0.Add(10*time.Millisecond))

	tests := []struct {
		name    string
		attach  func(Case, normalize.Complaint, string) (Case, bool)
		dups    int
		urgency int
		field   string
	}{
		{"duplicate", AttachDuplicate, 1, 0, "duplicate"},
		{"repeat", AttachRepeat, 0, 1, "repeat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, changed := tt.attach(base, second, "why")
			if !changed || c.Duplicates != tt.dups || c.Urgency != tt.urgency {
				t.Fatalf("changed %v, duplicates %d, urgency %d", changed, c.Duplicates, c.Urgency)
			}
			if !slices.Equal(c.References, []string{first.Reference, second.Reference}) || !slices.Equal(c.Complaints, []string{"api:1", "api:2"}) ||
				len(c.Attachments) != 1 || len(c.Contacts) != 1 || c.Contacts[0].Kind != tt.field || c.Contacts[0].Text != second.Description {
				t.Errorf("attached case %+v", c)
			}
			if !c.UpdatedAt.Equal(second.ReceivedAt) || c.Revision != 1 {
				t.Errorf("updated_at %v revision %d: the router sets the revision", c.UpdatedAt, c.Revision)
			}
			if i := slices.IndexFunc(c.Explanation, func(x Explanation) bool { return x.Field == tt.field }); i < 0 || c.Explanation[i].Reason != "why" || c.Explanation[i].Basis == "" {
				t.Errorf("explanation %+v", c.Explanation)
			}
			if len(base.References) != 1 || len(base.Contacts) != 0 || base.Duplicates != 0 || base.Urgency != 0 {
				t.Errorf("the original case was modified: %+v", base)
			}
			again, changed := tt.attach(c, second, "why")
			if changed || len(again.References) != 2 || again.Urgency != tt.urgency || again.Duplicates != tt.dups {
				t.Errorf("attaching the same complaint again changed the case: %+v", again)
			}
		})
	}
}

func TestLinkAndFlag(t *testing.T) {
	c := Case{ID: "TSNEW"}
	c = LinkRepeat(c, "TSOLD", "same matter as resolved case TSOLD")
	c = LinkRepeat(c, "TSOLD", "again")
	if !slices.Equal(c.LinkedCases, []string{"TSOLD"}) || len(c.Explanation) != 1 || !strings.Contains(c.Explanation[0].Basis, "一、㈡2⑵") {
		t.Errorf("linked %+v", c)
	}
	c, changed := FlagBatch(c, "PLX", "five customers")
	if !changed || c.Batch != "PLX" || c.Explanation[1].Field != "batch" {
		t.Errorf("flagged %v %+v", changed, c)
	}
	if c2, changed := FlagBatch(c, "PLY", "another"); changed || c2.Batch != "PLX" {
		t.Errorf("second batch: %v %s", changed, c2.Batch)
	}
}

func TestCaseJSONBackwardCompatible(t *testing.T) {
	old := `{"v":1,"id":"TS1","revision":3,"references":["TS1"],"complaints":["api:1"],"channel":"api","customer":{"key":"phone:+8613912345678"},"description":"x","category":"网络问题","decision":{"category":"网络问题","reason":"r","confidence":1},"status":"open","received_at":"2026-03-02T09:00:00Z","updated_at":"2026-03-02T09:00:00Z"}`
	var c Case
	if err := json.Unmarshal([]byte(old), &c); err != nil || c.Urgency != 0 || c.Batch != "" || c.LinkedCases != nil {
		t.Fatalf("%v %+v", err, c)
	}
	b, _ := json.Marshal(c)
	for _, field := range []string{"contacts", "duplicates", "urgency", "linked_cases", "batch"} {
		if strings.Contains(string(b), `"`+field+`"`) {
			t.Errorf("a case without %s writes it: %s", field, b)
		}
	}
}

func TestNotices(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	comp := relatedComplaint("api:2", t0)
	c := Case{ID: "TS1", Urgency: 2, Route: Route{Department: "客服部", Owner: "张三"}, Category: "网络问题"}
	urge := UrgeNotice(c, comp, "again")
	b, _ := json.Marshal(urge)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["v"] != float64(1) || m["kind"] != "urge" || m["case"] != "TS1" || m["reference"] != comp.Reference || m["urgency"] != float64(2) || m["id"] != "urge:TS1:api:2" {
		t.Errorf("urge notice %s", b)
	}
	long := relatedComplaint("api:3", t0)
	long.Description = strings.Repeat("长", 200)
	cand := NewBatchCandidate(Case{ID: "TS1", Pack: "telecom", Category: "网络问题"}, long, normalize.FingerprintOf(long))
	if cand.V != BatchCandidateVersion || cand.Entry.Case != "TS1" || cand.Entry.Complaint != "api:3" || cand.Entry.Customer != long.Customer.Key || len(cand.Entry.Sketch) == 0 {
		t.Errorf("batch candidate %+v", cand)
	}
	batch := BatchNotice("PLX", []string{"TS1", "TS2"}, 5, cand, "five")
	if batch.ID != "batch:PLX" || batch.Kind != NoticeBatch || !slices.Equal(batch.Cases, []string{"TS1", "TS2"}) || batch.Customers != 5 ||
		len([]rune(batch.Excerpt)) != 121 || batch.Category != "网络问题" || !batch.At.Equal(t0) {
		t.Errorf("batch notice %+v", batch)
	}
	flag := FlagBatchAction(cand.Entry, "PLX", "five", t0.Add(time.Minute))
	if err := flag.Validate(); err != nil || flag.ID != "batch:PLX:TS1" || flag.Customer != long.Customer.Key || flag.Kind != ActionFlagBatch {
		t.Errorf("flag action %+v: %v", flag, err)
	}
}

// TestAttachBounded: thousands of contacts on one case keep it within what
// the broker carries, with exact counts, the case's own first complaint
// and the latest contacts' texts.
func TestAttachBounded(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := relatedComplaint("api:0", t0)
	c := Case{ID: first.Reference, References: []string{first.Reference}, Complaints: []string{first.ID}, Customer: first.Customer,
		Attachments: first.Attachments, Status: StatusOpen}
	orig := c
	long := strings.Repeat("信号差，打不了电话。", 100)
	for i := 1; i <= 3000; i++ {
		comp := relatedComplaint(fmt.Sprint("api:", i), t0.Add(time.Duration(i)*time.Second))
		comp.Description = long
		var changed bool
		if i%3 == 0 {
			c, changed = AttachRepeat(c, comp, "again")
		} else {
			c, changed = AttachDuplicate(c, comp, "same")
		}
		if !changed {
			t.Fatalf("contact %d not attached", i)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 512<<10 {
		t.Errorf("a case with 3000 contacts encodes in %d bytes", len(b))
	}
	last := relatedComplaint("api:3000", t0)
	if c.Duplicates != 2000 || c.Urgency != 1000 || len(c.Contacts) != MaxContacts || len(c.References) != MaxReferences || len(c.Complaints) != MaxReferences ||
		len(c.Attachments) != MaxAttachments || c.References[0] != first.Reference || c.Complaints[0] != first.ID ||
		c.References[len(c.References)-1] != last.Reference || c.Attachments[0].Name != "api:0.png" {
		t.Errorf("duplicates %d, urgency %d, %d contacts, %d references, %d complaints, %d attachments, first reference %s",
			c.Duplicates, c.Urgency, len(c.Contacts), len(c.References), len(c.Complaints), len(c.Attachments), c.References[0])
	}
	for i, ct := range c.Contacts {
		if hasText := ct.Text != ""; hasText != (i >= MaxContacts-MaxContactTexts) {
			t.Fatalf("contact %d of %d has text: %v", i, len(c.Contacts), hasText)
		}
	}
	n := 0
	for _, x := range c.Explanation {
		if slices.Contains(contactFields, x.Field) {
			n++
		}
	}
	if n != MaxContactExplanations {
		t.Errorf("%d contact explanations, want %d", n, MaxContactExplanations)
	}
	if len(orig.References) != 1 || len(orig.Contacts) != 0 {
		t.Errorf("the original case changed: %+v", orig)
	}
}

package router

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
)

func TestBatchFlagsOf(t *testing.T) {
	cfg := normalize.DefaultDedupeConfig()
	t0 := time.Date(2026, 7, 14, 20, 0, 0, 0, time.UTC)
	entry := func(n int) normalize.BatchEntry {
		return normalize.BatchEntry{Complaint: fmt.Sprintf("hotline:%d", n), Customer: fmt.Sprintf("phone:+861390000000%d", n),
			Case: fmt.Sprintf("TS00000000%02d", n), ReceivedAt: t0.Add(time.Duration(n) * time.Minute)}
	}
	var five []normalize.BatchEntry
	for n := 1; n <= 5; n++ {
		five = append(five, entry(n))
	}
	cand := func(e normalize.BatchEntry) BatchCandidate {
		return BatchCandidate{V: BatchCandidateVersion, Entry: e, Pack: "telecom@2025", Category: "网络",
			Excerpt: "客户来电：幸福里小区宽带全断，光猫红灯，邻居家也一样，已经２小时"}
	}
	const batch = "PL0000000001"

	tests := []struct {
		name   string
		cand   BatchCandidate
		bo     normalize.BatchOutcome
		flags  []string // the cases flagged
		reason string   // a part of the reason
		notice bool
	}{
		{name: "in no batch", cand: cand(entry(1)), bo: normalize.BatchOutcome{Save: []normalize.BatchEntry{entry(1)}}},
		{name: "the fifth customer forms the batch", cand: cand(entry(5)),
			bo:     normalize.BatchOutcome{Batch: batch, Formed: true, Flag: five, Customers: 5},
			flags:  []string{"TS0000000001", "TS0000000002", "TS0000000003", "TS0000000004", "TS0000000005"},
			reason: "5 位不同客户在 2 小时内提交了相似度不低于 0.60 的投诉（达到 5 位即为批量）：形成批量投诉 " + batch, notice: true},
		{name: "a sixth joins it", cand: cand(entry(6)), bo: normalize.BatchOutcome{Batch: batch, Flag: []normalize.BatchEntry{entry(6)}},
			flags: []string{"TS0000000006"}, reason: "与批量投诉 " + batch + " 的投诉相似（相似度不低于 0.60），在 2 小时内受理"},
		{name: "a candidate already in the window is flagged again", cand: cand(entry(3)), bo: normalize.BatchOutcome{Batch: batch},
			flags: []string{"TS0000000003"}, reason: "批量投诉 " + batch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BatchFlagsOf(cfg, tt.cand, tt.bo)
			var flagged []string
			for _, a := range got.Actions {
				flagged = append(flagged, a.Case)
				if a.Kind != ActionFlagBatch || a.Batch != batch || a.ID != "batch:"+batch+":"+a.Case || a.Actor != "batch" ||
					!a.At.Equal(tt.cand.Entry.ReceivedAt) || !strings.Contains(a.Reason, tt.reason) || a.Validate() != nil {
					t.Errorf("action %+v, want flag_batch of %s at %v because %q", a, batch, tt.cand.Entry.ReceivedAt, tt.reason)
				}
				if !strings.HasPrefix(a.Customer, "phone:+86139") {
					t.Errorf("action %s keyed by %q, want the case's customer", a.ID, a.Customer)
				}
			}
			if !slices.Equal(flagged, tt.flags) {
				t.Errorf("flagged %v, want %v", flagged, tt.flags)
			}
			if (got.Notice != nil) != tt.notice {
				t.Fatalf("notice %+v, want one: %v", got.Notice, tt.notice)
			}
			if n := got.Notice; n != nil && (n.Kind != NoticeBatch || n.Batch != batch || !slices.Equal(n.Cases, tt.flags) || n.Customers != 5 ||
				n.Reason != got.Actions[0].Reason || n.Category != "网络" || !n.At.Equal(tt.cand.Entry.ReceivedAt)) {
				t.Errorf("notice %+v", n)
			}
		})
	}
}

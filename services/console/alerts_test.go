package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/ledger"
	"github.com/tousu/tousu/services/notices"
)

// alertNotices are what the alerts topic brought: an urge of TS-A (坐席甲
// of 客户服务中心 owns it), the breach of TS-D's clock (网络运维部), and a
// batch incident.
func alertNotices() []router.Notice {
	at := time.Now().Add(-time.Hour)
	return []router.Notice{
		{V: router.NoticeVersion, ID: "urge:TS-A:webform:TS-A2", Kind: router.NoticeUrge, At: at, Case: "TS-A", Reference: "TS-A2", Urgency: 2,
			Route: router.Route{Department: "客户服务中心", Owner: "坐席甲"}, Category: "服务问题", Excerpt: "宽带提速还是没生效，第三次打电话了"},
		{V: router.NoticeVersion, ID: "escalation:TS-D:acknowledge:breach", Kind: router.NoticeEscalation, At: at.Add(time.Minute), Case: "TS-D",
			Route: router.Route{Department: "网络运维部"}, Level: 2, Clock: "acknowledge", Step: "breach", Due: at, Notify: []string{"客服中心主任"}, Category: "网络问题"},
		{V: router.NoticeVersion, ID: "batch:B-0305", Kind: router.NoticeBatch, At: at.Add(2 * time.Minute), Batch: "BATCH-0305-信号",
			Cases: []string{"TS-B", "TS-D"}, Customers: 2, Category: "网络问题", Excerpt: "小区基站信号很差"},
	}
}

// alertStore holds the notices of alertNotices, with read marks in a
// ledger of its own.
func alertStore(tb testing.TB) *notices.Store {
	tb.Helper()
	marks := ledger.New(func(context.Context, ...bus.Message) error { return nil }, "notices.test", ledger.Retention)
	marks.CaughtUp()
	store := notices.New(marks)
	for _, n := range alertNotices() {
		b, err := json.Marshal(n)
		if err != nil {
			tb.Fatal(err)
		}
		if err := store.Follow(context.Background(), bus.Message{Value: b}); err != nil {
			tb.Fatal(err)
		}
	}
	return store
}

// TestAlerts: each person sees the notices that concern them, newest
// first, with the unread count in the navigation, and marks one or all
// as read; the marks are theirs alone.
func TestAlerts(t *testing.T) {
	ps := newPagesServer(t, fixtures(t)...)
	for _, tt := range []struct {
		who            string
		want, unwanted []string
	}{
		{"王", []string{"提醒 (3)", "批量投诉", "BATCH-0305-信号：2 件工单，2 位客户", "超时", "第 2 级 · 已超时", "通知：客服中心主任", "客户再次来电催办（第 2 次），新受理编号 TS-A2", "部门 客户服务中心 · 负责人 坐席甲", "主管看板"}, nil},
		{"甲", []string{"提醒 (1)", "催办", "宽带提速还是没生效"}, []string{"TS-D", "BATCH-0305", "主管看板"}},
		{"乙", []string{"提醒 (1)", `href="/console/cases/TS-D"`, "部门 网络运维部"}, []string{"TS-A", "BATCH-0305"}},
	} {
		ps.check(t, tt.who, "/console/alerts", http.StatusOK, tt.want, tt.unwanted)
	}
	_, page := ps.get(t, "王", "/console/alerts")
	batch, escalation, urge := strings.Index(page, "BATCH-0305"), strings.Index(page, "第 2 级"), strings.Index(page, "催办（")
	if batch < 0 || escalation < batch || urge < escalation {
		t.Errorf("the alerts are not newest first: batch at %d, escalation at %d, urge at %d", batch, escalation, urge)
	}

	if code, _ := ps.post(t, "王", "/console/alerts/read", url.Values{"id": {"batch:B-0305"}}); code != http.StatusForbidden {
		t.Errorf("marking read without the CSRF token = %d, want 403", code)
	}
	if code, loc := ps.post(t, "王", "/console/alerts/read", url.Values{"_csrf": {testCSRF}, "id": {"batch:B-0305"}}); code != http.StatusSeeOther || loc != "/console/alerts?read=1" {
		t.Fatalf("marking one read = %d %s", code, loc)
	}
	ps.check(t, "王", "/console/alerts?read=1", http.StatusOK, []string{"提醒 (2)", "已标为已读", "（2 条未读）"}, nil)
	if code, _ := ps.post(t, "王", "/console/alerts/read", url.Values{"_csrf": {testCSRF}, "all": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("marking all read = %d", code)
	}
	ps.check(t, "王", "/console/alerts", http.StatusOK, []string{">提醒</a>", "BATCH-0305"}, []string{"未读", "全部标为已读"})
	ps.check(t, "甲", "/console/alerts", http.StatusOK, []string{"提醒 (1)"}, nil)
	ps.check(t, "甲", "/console/", http.StatusOK, []string{`href="/console/alerts">提醒 (1)</a>`}, nil)
	if code, loc := ps.get(t, "", "/console/alerts"); code != http.StatusSeeOther || loc != "/console/signin" {
		t.Errorf("without a session GET /console/alerts = %d %s, want the sign-in page", code, loc)
	}
}

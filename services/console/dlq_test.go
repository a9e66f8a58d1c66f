package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/deadletters/deadletterstest"
	"github.com/tousu/tousu/services/httpapi"
)

// testDeadLetters are the dead letters of the page tests, oldest first:
// a complaint of an unknown schema version, garbage, an action for a
// forgotten case and a mail in GBK the IMAP reader quarantined.
func testDeadLetters() []bus.DeadLetter {
	at := testNow.UTC()
	return []bus.DeadLetter{
		{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 3, Offset: 1201, Key: []byte("webform:9c1e"), Group: "tousu-normalizer",
			Reason:   "invalid envelope: schema version 2, want 1",
			Original: []byte(`{"v":2,"id":"webform:9c1e","name":"陈先生","phone":"13812345678","description":"3月1号起宽带每晚8点准时断网，报修单号BX0301-77，身份证110101199003071233"}`),
			At:       at.Add(-5 * time.Hour)},
		{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 0, Offset: 88, Key: []byte("k"), Group: "tousu-normalizer",
			Reason: "decode complaints.raw payload: invalid character 'o' in literal null", Original: []byte("not json"), At: at.Add(-4 * time.Hour)},
		{V: bus.DeadLetterVersion, Topic: bus.TopicActions, Partition: 1, Offset: 40, Key: []byte("phone:+8613912340001"), Group: "tousu-router",
			Reason:   "case TS20260301-0042 is not in this router's state: unknown, or finished and forgotten",
			Original: []byte(`{"v":1,"id":"console:77","kind":"note","note":"客户又来电 已告知3个工作日内回复 邮箱wang.li@example.com"}`),
			At:       at.Add(-2 * time.Hour)},
		{V: bus.DeadLetterVersion, Source: "imap:support", Key: []byte("imap:support:7:311"), Reason: "邮件无正文",
			Original: []byte("Subject: \xcd\xb6\xcb\xdf\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"), At: at.Add(-time.Hour)},
	}
}

// deadLetterStore is a store that holds testDeadLetters as entries 0-0…0-3
// and records what it replays.
func deadLetterStore(tb testing.TB) (*deadletters.Store, func() []bus.Message) {
	tb.Helper()
	return deadletterstest.Store(tb, testDeadLetters()...)
}

// dlqStore is the store of deadLetterStore alone.
func dlqStore(tb testing.TB) *deadletters.Store {
	tb.Helper()
	s, _ := deadLetterStore(tb)
	return s
}

// TestDeadLetterPages: ops and admins see the counts and the newest
// entries masked; agents and supervisors are refused; ops reveal one
// entry in full, audited; an admin cannot.
func TestDeadLetterPages(t *testing.T) {
	ps := newPagesServer(t)
	list := pathDeadLetters
	for _, who := range []string{"甲", "王"} {
		ps.check(t, who, list, http.StatusForbidden, []string{"仅限运维人员和管理员"}, nil)
		ps.check(t, who, list+"/0-0", http.StatusForbidden, nil, []string{"13812345678"})
		ps.check(t, who, "/console/", http.StatusOK, nil, []string{"死信队列"})
	}
	for _, who := range []string{"钱", "吴"} {
		ps.check(t, who, list, http.StatusOK, []string{
			`aria-current="page">死信队列</a>`, "共读到 4 条死信",
			`<a href="/console/ops/dlq?source=complaints.raw">complaints.raw</a></th><td>2</td>`,
			`<a href="/console/ops/dlq?reason=invalid&#43;envelope">投诉记录不合规（版本不对，或缺少编号、内容）</a><div class="muted"><code>invalid envelope</code></div>`,
			`<a href="/console/ops/dlq?reason=case&#43;TSN-N&#43;is&#43;not&#43;in&#43;this&#43;router%27s&#43;state">`,
			"imap:support", "138****5678", "w***@example.com",
		}, []string{"13812345678", "110101199003071233", "wang.li@", "重放全部符合条件"})
	}
	// Newest first: the quarantined mail, then the action.
	_, page := ps.get(t, "钱", list)
	if mail, action := strings.Index(page, `href="/console/ops/dlq/0-3"`), strings.Index(page, `href="/console/ops/dlq/0-2"`); mail < 0 || action < mail {
		t.Errorf("entries not newest first: 0-3 at %d, 0-2 at %d", mail, action)
	}
	ps.check(t, "钱", list+"?source=complaints.raw", http.StatusOK, []string{"符合条件的死信（2 条）", "重放全部符合条件的死信（2 条）…", `href="/console/ops/dlq/0-0"`},
		[]string{`href="/console/ops/dlq/0-2"`})

	ps.check(t, "吴", list+"/0-0", http.StatusOK, []string{"已隐去电话、邮箱、证件号", "138****5678", "complaints.raw 分区 3 偏移 1201", "重放到 complaints.raw…"},
		[]string{"13812345678", "显示完整内容"})
	ps.check(t, "钱", list+"/0-0", http.StatusOK, []string{"显示完整内容（将记录查看人）", "138****5678"}, []string{"13812345678"})
	ps.check(t, "钱", list+"/0-3", http.StatusOK, []string{"没有来源主题", "Subject: Ͷ\uFFFD"}, []string{"重放到"})
	ps.check(t, "钱", list+"/9-9", http.StatusNotFound, []string{"没有这条死信"}, nil)

	if code, _ := ps.post(t, "钱", list+"/0-0/reveal", url.Values{}); code != http.StatusForbidden {
		t.Errorf("reveal without the CSRF token = %d, want 403", code)
	}
	code, page := ps.post(t, "钱", list+"/0-0/reveal", url.Values{"_csrf": {testCSRF}})
	if code != http.StatusOK || !strings.Contains(page, "13812345678") || !strings.Contains(page, "本次查看已记录") {
		t.Errorf("reveal by ops = %d, want the payload in full: %.300s", code, page)
	}
	if audit := ps.logs.FilterMessage("dead letter shown in full").All(); len(audit) != 1 || audit[0].ContextMap()["by"] != "qian.ops" {
		t.Errorf("audit %+v, want one full view by qian.ops", audit)
	}
	if code, page := ps.post(t, "吴", list+"/0-0/reveal", url.Values{"_csrf": {testCSRF}}); code != http.StatusOK || strings.Contains(page, "13812345678") {
		t.Errorf("reveal by an admin = %d, want the payload still masked", code)
	}
}

// TestDeadLetterPageEmpty: with no dead letter, the page says so once,
// in words, without empty counts, filter or list.
func TestDeadLetterPageEmpty(t *testing.T) {
	store, _ := deadletterstest.Store(t)
	ps := newPagesServerWith(t, httpapi.NewDeadLetters(store, nil, zap.NewNop()))
	ps.check(t, "钱", pathDeadLetters, http.StatusOK, []string{"死信队列为空：各处理环节没有放弃过任何消息"},
		[]string{"按来源", "筛选", "没有符合条件的死信", "共读到 0 条"})
}

// TestDeadLetterReplayPage asks to confirm before it replays one entry or
// every entry of a filter, replays what was confirmed once, and shows
// the entry replayed.
func TestDeadLetterReplayPage(t *testing.T) {
	store, replayed := deadLetterStore(t)
	ps := newPagesServerWith(t, httpapi.NewDeadLetters(store, nil, zap.NewNop()))
	replay := pathDeadLetters + "/replay"
	tests := []struct {
		name   string
		form   url.Values
		code   int
		want   []string
		writes int
	}{
		{"without the CSRF token", url.Values{"id": {"0-0"}}, http.StatusForbidden, nil, 0},
		{"one entry asks to confirm", url.Values{"_csrf": {testCSRF}, "id": {"0-0"}}, http.StatusOK,
			[]string{"确认重放", "将把以下 1 条死信", `<input type="hidden" name="id" value="0-0">`, `href="/console/ops/dlq/0-0">取消</a>`}, 0},
		{"confirmed", url.Values{"_csrf": {testCSRF}, "id": {"0-0"}, "confirm": {"1"}}, http.StatusOK, []string{"已重放 1 条", "已重放"}, 1},
		{"again", url.Values{"_csrf": {testCSRF}, "id": {"0-0"}, "confirm": {"1"}}, http.StatusOK, []string{"已重放 0 条，1 条未发送", "此前已重放，未再发送"}, 1},
		{"a filter asks to confirm the rest", url.Values{"_csrf": {testCSRF}, "all": {"1"}, "source": {"complaints.raw"}}, http.StatusOK,
			[]string{"将把以下 1 条死信", `name="id" value="0-1"`}, 1},
		{"a filter of nothing replayable", url.Values{"_csrf": {testCSRF}, "all": {"1"}, "source": {"imap:support"}}, http.StatusUnprocessableEntity,
			[]string{"没有可重放的死信"}, 1},
		{"the filter confirmed", url.Values{"_csrf": {testCSRF}, "id": {"0-1"}, "confirm": {"1"}}, http.StatusOK, []string{"已重放 1 条"}, 2},
	}
	for _, tt := range tests {
		code, page := ps.post(t, "钱", replay, tt.form)
		if code != tt.code {
			t.Fatalf("%s: %d, want %d: %.300s", tt.name, code, tt.code, page)
		}
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: page lacks %q", tt.name, w)
			}
		}
		if n := len(replayed()); n != tt.writes {
			t.Errorf("%s: %d records replayed, want %d", tt.name, n, tt.writes)
		}
	}
	ps.check(t, "钱", pathDeadLetters+"/0-0", http.StatusOK, []string{"已重放：qian.ops"}, []string{"重放到"})
	ps.check(t, "钱", pathDeadLetters, http.StatusOK, []string{`0-0</a> <span class="badge">已重放</span>`}, nil)
}

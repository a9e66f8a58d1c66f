package webform

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const knownRef = "TS3K9QW2M7PX"

func statusEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newTestEnv(tb, Config{})
	e.lookup.cases[knownRef] = CaseStatus{
		Reference:  knownRef,
		Status:     "处理中",
		Category:   "网络质量",
		ReceivedAt: time.Date(2026, 12, 1, 1, 30, 0, 0, time.UTC),
		Deadline:   "答复用户：2026年12月21日前",
		Phone:      "+8613800138000",
	}
	e.lookup.cases["TS0000000001"] = CaseStatus{Reference: "TS0000000001", Status: "已受理"} // e-mail only
	return e
}

func TestStatusLookup(t *testing.T) {
	tests := []struct {
		name   string
		ref    string
		digits string
		status int
		want   []string
	}{
		{"found", knownRef, "8000", http.StatusOK, []string{"处理中", "网络质量", "答复用户：2026年12月21日前", "2026年12月1日 09:30"}},
		{"found with typing slips", "ts3k-9qw2-m7px", "８０００", http.StatusOK, []string{"处理中"}},
		{"wrong digits", knownRef, "8001", http.StatusNotFound, []string{msgNotFound}},
		{"unknown reference", "TS3K9QW2M7PY", "8000", http.StatusNotFound, []string{msgNotFound}},
		{"e-mail only case", "TS0000000001", "0000", http.StatusNotFound, []string{msgNotFound}},
		{"malformed reference", "12345", "8000", http.StatusUnprocessableEntity, []string{msgBadRef}},
		{"three digits", knownRef, "800", http.StatusUnprocessableEntity, []string{msgBadLast4}},
		{"letters", knownRef, "80a0", http.StatusUnprocessableEntity, []string{msgBadLast4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := statusEnv(t)
			s, _ := e.open(t, "/status")
			resp, body := e.post(t, "/status", s, map[string]string{"reference": tt.ref, "digits": tt.digits}, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if tt.status != http.StatusOK && strings.Contains(body, `id="status"`) {
				t.Error("status shown without a match")
			}
		})
	}
}

func TestStatusLookupFailure(t *testing.T) {
	e := statusEnv(t)
	e.lookup.err = errors.New("index down")
	s, _ := e.open(t, "/status")
	resp, body := e.post(t, "/status", s, map[string]string{"reference": knownRef, "digits": "8000"}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "系统繁忙") {
		t.Fatalf("status %d, want 503 with a message", resp.StatusCode)
	}
}

func TestStatusCSRF(t *testing.T) {
	e := statusEnv(t)
	resp, _ := e.post(t, "/status", session{}, map[string]string{"reference": knownRef, "digits": "8000"}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestStatusPrefill(t *testing.T) {
	e := statusEnv(t)
	_, body := e.open(t, "/status?reference="+knownRef)
	if !strings.Contains(body, `value="`+knownRef+`"`) {
		t.Fatal("reference not pre-filled")
	}
	_, body = e.open(t, "/status?reference=%3Cscript%3E")
	if strings.Contains(body, "script") {
		t.Fatal("malformed reference pre-filled")
	}
}

func TestNormalizeReference(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"TS3K9QW2M7PX", "TS3K9QW2M7PX", true},
		{" ts3k9qw2m7px ", "TS3K9QW2M7PX", true},
		{"ＴＳ３Ｋ９ＱＷ２Ｍ７ＰＸ", "TS3K9QW2M7PX", true},
		{"TSOOIL000000", "TS0011000000", true},
		{"TS3K9QW2M7P", "", false},
		{"TS3K9QW2M7PU", "", false},
		{"XX3K9QW2M7PX", "", false},
		{"TS3K9QW2M7P\xff", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeReference(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeReference(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// lookUp posts a status look-up to e and returns the status code, the
// Retry-After header and the page.
func lookUp(tb testing.TB, e *testEnv, ref, digits string) (int, string, string) {
	tb.Helper()
	s, _ := e.open(tb, "/status")
	resp, body := e.post(tb, "/status", s, map[string]string{"reference": ref, "digits": digits}, nil)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body
}

func TestStatusLockAfterFailures(t *testing.T) {
	const unknownRef = "TS3K9QW2M7PY"
	tests := []struct {
		name       string
		failRef    string   // reference of the five failed look-ups
		failDigits string   // their digits
		between    []string // digits of look-ups of knownRef between the failures, on the first replica
		ref        string   // the sixth look-up, on the second replica
		digits     string
		want       int
	}{
		{"wrong digits lock, right digits refused", knownRef, "1234", nil, knownRef, "8000", http.StatusTooManyRequests},
		{"wrong digits lock, wrong digits refused", knownRef, "1234", nil, knownRef, "1234", http.StatusTooManyRequests},
		{"unknown reference locks too", unknownRef, "1234", nil, unknownRef, "8000", http.StatusTooManyRequests},
		{"another reference is not locked", unknownRef, "1234", nil, knownRef, "8000", http.StatusOK},
		{"a successful look-up clears the count", knownRef, "1234", []string{"8000"}, knownRef, "8000", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ledger := &memLedger{}
			first, second := newTestEnvSharing(t, Config{RateLimit: 1000}, ledger), newTestEnvSharing(t, Config{RateLimit: 1000}, ledger)
			for _, e := range []*testEnv{first, second} {
				e.lookup.cases[knownRef] = CaseStatus{Reference: knownRef, Status: "处理中", Phone: "+8613800138000"}
			}
			for i := range DefaultMaxStatusFailures {
				if i == 2 {
					for _, d := range tt.between {
						lookUp(t, first, knownRef, d)
					}
				}
				if status, _, _ := lookUp(t, first, tt.failRef, tt.failDigits); status != http.StatusNotFound {
					t.Fatalf("failed look-up %d: status %d, want 404", i+1, status)
				}
			}
			status, retry, body := lookUp(t, second, tt.ref, tt.digits)
			if status != tt.want {
				t.Fatalf("sixth look-up: status %d, want %d", status, tt.want)
			}
			if status != http.StatusTooManyRequests {
				return
			}
			if secs, err := strconv.Atoi(retry); err != nil || secs < 1 || secs > int(DefaultStatusLockWindow/time.Second) {
				t.Errorf("Retry-After %q, want seconds up to the window", retry)
			}
			if !strings.Contains(body, "查询失败次数过多") || strings.Contains(body, `id="status"`) || strings.Contains(body, "处理中") {
				t.Errorf("locked page: %.300s", body)
			}
		})
	}
}

// TestStatusLockSamePage checks that a locked known reference and a locked
// unknown one get the same page, so the lock is no oracle either.
func TestStatusLockSamePage(t *testing.T) {
	e := newTestEnv(t, Config{RateLimit: 1000})
	e.lookup.cases[knownRef] = CaseStatus{Reference: knownRef, Status: "处理中", Phone: "+8613800138000"}
	pages := map[string]string{}
	for _, ref := range []string{knownRef, "TS3K9QW2M7PY"} {
		for range DefaultMaxStatusFailures {
			lookUp(t, e, ref, "1234")
		}
		_, _, body := lookUp(t, e, ref, "8000")
		pages[ref] = strings.ReplaceAll(body, ref, "TS…")
	}
	if pages[knownRef] != pages["TS3K9QW2M7PY"] {
		t.Fatalf("locked pages differ:\n%s\n%s", pages[knownRef], pages["TS3K9QW2M7PY"])
	}
}

func TestStatusLedgerDown(t *testing.T) {
	for _, digits := range []string{"8000", "1234"} {
		e := statusEnv(t)
		e.ledger.fail(errors.New("broker down"))
		if status, _, body := lookUp(t, e, knownRef, digits); status != http.StatusServiceUnavailable || !strings.Contains(body, "系统繁忙") {
			t.Fatalf("digits %s: status %d, want 503: an unrecorded look-up would escape the lock", digits, status)
		}
	}
}

func TestLockedFor(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tried := func(ago time.Duration) LedgerEntry { return LedgerEntry{At: now.Add(-ago), Value: []byte(LockTried)} }
	found := func(ago time.Duration) LedgerEntry { return LedgerEntry{At: now.Add(-ago), Value: []byte(LockForgive)} }
	tests := []struct {
		name      string
		entries   []LedgerEntry
		locked    bool
		wantRetry time.Duration
	}{
		{"none", nil, false, 0},
		{"two below the limit", []LedgerEntry{tried(10 * time.Minute), tried(time.Minute)}, false, 0},
		{"three reach it", []LedgerEntry{tried(40 * time.Minute), tried(10 * time.Minute), tried(time.Minute)}, true, 20 * time.Minute},
		{"old ones left the window", []LedgerEntry{tried(2 * time.Hour), tried(61 * time.Minute), tried(time.Minute)}, false, 0},
		{"success clears", []LedgerEntry{tried(40 * time.Minute), tried(30 * time.Minute), found(20 * time.Minute), tried(time.Minute)}, false, 0},
		{"failures after a success", []LedgerEntry{found(50 * time.Minute), tried(40 * time.Minute), tried(30 * time.Minute), tried(20 * time.Minute)}, true, 20 * time.Minute},
		{"unknown values are ignored", []LedgerEntry{tried(3 * time.Minute), {At: now, Value: []byte("x")}, tried(time.Minute)}, false, 0},
		{"at least a second", []LedgerEntry{tried(time.Hour - time.Millisecond), tried(time.Minute), tried(time.Second)}, true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, locked := LockedFor(tt.entries, now, 3, time.Hour)
			if locked != tt.locked || retry != tt.wantRetry {
				t.Fatalf("LockedFor = %v, %v; want %v, %v", retry, locked, tt.wantRetry, tt.locked)
			}
		})
	}
}

// TestStatusJourney shows one case at each step as the lookup reports
// it: the steps with their dates, the result only when visible, the
// survey form once resolved, and the appeal the rules name.
func TestStatusJourney(t *testing.T) {
	cst := func(day, hour, minute int) time.Time { return time.Date(2026, 12, day, hour, minute, 0, 0, shanghai) }
	steps := func(at ...time.Time) []StatusStep {
		var out []StatusStep
		for i, l := range []string{"已受理", "处理中", "已答复", "已办结", "已关闭"} {
			s := StatusStep{Label: l}
			if i < len(at) {
				s.Reached, s.At = true, at[i]
			}
			out = append(out, s)
		}
		return out
	}
	appeal := "对处理结果不满意，或提交投诉后15个工作日内未获答复的，可以向工业和信息化部电信用户申诉受理中心申诉（电话 12300）。"
	tests := []struct {
		name       string
		cs         CaseStatus
		want, lack []string
	}{
		{"received", CaseStatus{Status: "已受理", Steps: steps(cst(1, 9, 30)), Deadline: "答复用户：2026年12月21日前"},
			[]string{"答复用户：2026年12月21日前", `<li class="reached latest">已受理<span class="at">2026年12月1日 09:30</span>`, `<li class="">处理中</li>`},
			[]string{`name="satisfied"`, `id="result"`, `id="appeal"`}},
		{"answered", CaseStatus{Status: "已答复", Steps: steps(cst(1, 9, 30), cst(1, 10, 2), cst(3, 16, 45))},
			[]string{`<li class="reached latest">已答复<span class="at">2026年12月3日 16:45</span>`, `<li class="reached">处理中<span class="at">2026年12月1日 10:02</span>`},
			[]string{`name="satisfied"`}},
		{"resolved, result internal", CaseStatus{Status: "已办结", Steps: steps(cst(1, 9, 30), time.Time{}, time.Time{}, cst(4, 11, 0)), Survey: "tok.sig", Appeal: appeal, AppealBasis: "《电信用户申诉处理暂行办法》第八条、第九条"},
			[]string{`<li class="reached">处理中</li>`, `name="satisfied" value="no"`, `name="t" value="tok.sig"`, `action="/survey"`, "12300", "依据：《电信用户申诉处理暂行办法》第八条、第九条"},
			[]string{`id="result"`}},
		{"resolved, result visible", CaseStatus{Status: "已办结", Steps: steps(cst(1, 9, 30), cst(1, 10, 2), cst(3, 16, 45), cst(4, 11, 0)), Result: "经核查，12月1日宽带中断系光缆被挖断所致，已修复；减免12月月租30元，已于12月4日返还至话费账户。", Survey: "tok.sig"},
			[]string{`<p class="result" id="result">经核查，12月1日宽带中断系光缆被挖断所致`},
			[]string{`id="appeal"`}},
		{"closed: no survey", CaseStatus{Status: "已关闭", Steps: steps(cst(1, 9, 30), cst(1, 10, 2), cst(3, 16, 45), cst(4, 11, 0), cst(5, 8, 0)), Result: "已修复。"},
			[]string{`<li class="reached latest">已关闭`}, []string{`name="satisfied"`}},
		{"result with markup is text", CaseStatus{Status: "已办结", Result: `<img src=x onerror=alert(1)>已退款`},
			[]string{"&lt;img src=x onerror=alert(1)&gt;已退款"}, []string{"<img src=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := statusEnv(t)
			tt.cs.Reference, tt.cs.Phone, tt.cs.Category = knownRef, "+86 138-0013-8000", "网络质量"
			e.lookup.cases[knownRef] = tt.cs
			code, _, body := lookUp(t, e, knownRef, "8000")
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, l := range tt.lack {
				if strings.Contains(body, l) {
					t.Errorf("page shows %q", l)
				}
			}
		})
	}
}

// TestStatusSurveyAnswered answers the survey from the status page: the
// form posts to the survey page, which records the answer once.
func TestStatusSurveyAnswered(t *testing.T) {
	e := statusEnv(t)
	cs := e.lookup.cases[knownRef]
	cs.Status, cs.Survey = "已办结", surveyToken
	e.lookup.cases[knownRef] = cs
	e.surveys.cases[surveyToken] = SurveyCase{Reference: knownRef, Status: "已办结", Open: true}
	s, _ := e.open(t, "/status")
	_, body := e.post(t, "/status", s, map[string]string{"reference": knownRef, "digits": "8000"}, nil)
	if !strings.Contains(body, `name="t" value="`+surveyToken+`"`) {
		t.Fatal("the status page offers no survey")
	}
	fields := map[string]string{"t": surveyToken, "satisfied": "no", "comment": "换了光猫还是每天晚上9点掉线，12月5号又断了一次"}
	for i, want := range []int{http.StatusOK, http.StatusConflict} {
		resp, _ := e.post(t, "/survey", s, fields, nil)
		if resp.StatusCode != want {
			t.Errorf("answer %d: status %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	if len(e.surveys.answers) != 1 || e.surveys.answers[0].satisfied || !strings.Contains(e.surveys.answers[0].comment, "9点掉线") {
		t.Errorf("answers = %+v, want one, not satisfied, with the comment", e.surveys.answers)
	}
}

// TestStatusPromisesEmailOnlyWhenConfigured checks the look-up form's
// promise to e-mail-only customers.
func TestStatusPromisesEmailOnlyWhenConfigured(t *testing.T) {
	const promise = "我们会通过电子邮件告知处理进展"
	for _, tt := range []struct {
		name string
		on   bool
	}{{"no e-mail sender", false}, {"e-mail progress configured", true}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{EmailProgress: tt.on})
			_, body := e.open(t, "/status")
			if strings.Contains(body, promise) != tt.on {
				t.Errorf("promise shown = %v, want %v", !tt.on, tt.on)
			}
			if !strings.Contains(body, "仅留电子邮箱的投诉无法在此查询") {
				t.Error("the page no longer says e-mail-only complaints cannot be looked up")
			}
			// The receipt of an e-mail-only complaint promises the same.
			s, _ := e.open(t, "/")
			fields := validFields()
			fields["phone"], fields["email"] = "", "wang.li@163.com"
			resp, receipt := e.post(t, "/complaints", s, fields, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(receipt, "仅留电子邮箱的投诉无法在线查询") {
				t.Fatalf("receipt: %d", resp.StatusCode)
			}
			if strings.Contains(receipt, "处理进展将通过电子邮件告知您") != tt.on {
				t.Errorf("the receipt's promise shown = %v, want %v", !tt.on, tt.on)
			}
		})
	}
}

package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/internal/mailtest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// TestEndToEndMailbox runs tousu with a mailbox declared in the
// environment against the real Dovecot of TOUSU_TEST_IMAP: a GB2312 mail
// becomes a case found by a Chinese phrase, a mail without a sender lands
// in complaints.dlq with its raw bytes, and /readyz shows the mailbox;
// then replies join the case, and a GB18030 mail with a header line Go's
// strict reader refuses (a name holding a tab and a space) becomes a case
// with a warning.
func TestEndToEndMailbox(t *testing.T) {
	box, deliver := testMailbox(t, "support")
	body, err := simplifiedchinese.GBK.NewEncoder().String("您好，我家宽带断网两天了，报修一直没人来。电话13800138000。")
	if err != nil {
		t.Fatal(err)
	}
	good := "From: =?GB2312?B?" + b64(t, "张三") + "?= <zhangsan@example.com>\r\n" +
		"To: support@example.com\r\nSubject: =?gb2312?B?" + b64(t, "宽带断网") + "?=\r\n" +
		"Message-ID: <e2e-1@example.com>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=GB2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n"
	bad := "To: support@example.com\r\nSubject: no sender\r\nMessage-ID: <e2e-2@example.com>\r\n\r\nwho am I\r\n"
	huge := "From: big@example.com\r\nTo: support@example.com\r\nSubject: huge\r\nMessage-ID: <e2e-3@example.com>\r\n\r\n" +
		strings.Repeat("附件太大了。", 20000) + "\r\n"
	box.MaxMessageBytes = 100_000
	for _, raw := range []string{good, bad, huge} {
		deliver(raw)
	}

	r := startTousu(t, t.TempDir(), func(c *Config) { c.IMAP.Mailboxes = []imap.MailboxConfig{box} })
	res := r.waitFor(t, url.Values{"q": {"宽带断网"}}, 1)
	if c := res.Hits[0]; c.Channel != "email" || c.Source != "support" || c.Customer.Email != "zhangsan@example.com" || c.Customer.Name != "张三" {
		t.Errorf("case = %+v", c)
	}
	letters := readDeadLetters(t, r.cfg.Bus, r.producer, 2)
	slices.SortFunc(letters, func(a, b bus.DeadLetter) int {
		return strings.Compare(a.Headers["message_id"], b.Headers["message_id"])
	})
	if dl := letters[0]; dl.Source != "imap:support" || dl.Reason == "" || !strings.Contains(string(dl.Original), "who am I") {
		t.Errorf("dead letter = %+v", dl)
	}
	// The oversized mail: quarantined without its bytes in the record,
	// which are on disk under the evidence store, named by their SHA-256.
	big := letters[1]
	if big.Original != nil || big.Headers["raw_sha256"] == "" || big.Headers["raw_size"] != strconv.Itoa(len(huge)) || !strings.Contains(big.Reason, "max_message_bytes") {
		t.Errorf("oversized dead letter = %+v", big)
	}
	found := false
	filepath.WalkDir(filepath.Join(r.cfg.DataDir, "quarantine"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, big.Headers["raw_sha256"]) {
			found = true
		}
		return nil
	})
	if !found {
		t.Errorf("the oversized mail's bytes (sha256 %s) are not under %s/quarantine", big.Headers["raw_sha256"], r.cfg.DataDir)
	}
	var ready struct {
		Details struct {
			IMAP map[string]struct {
				LastSuccess time.Time `json:"last_success"`
			}
		}
	}
	r.api(t, http.MethodGet, "/readyz", nil, nil, &ready)
	if ready.Details.IMAP["support"].LastSuccess.IsZero() {
		t.Errorf("/readyz details = %+v", ready.Details)
	}
	checkRepliesFromOtherAddresses(t, r, res.Hits[0], deliver)

	malformed, err := os.ReadFile("../../ingest/imap/testdata/xscript-header-gb18030-base64.eml")
	if err != nil {
		t.Fatal(err)
	}
	deliver(string(malformed))
	res = r.waitFor(t, url.Values{"q": {`"在家办公受影响"`}}, 1)
	if c := res.Hits[0]; c.Customer.Email != "liu.min@example.com" || c.Subject != "宽带12月1日起断网，报修3次无人上门" ||
		len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "第 10 行不是合法的字段，已跳过：X-Script/function/") {
		t.Errorf("the mail with a malformed header line: case %+v", c)
	}
}

// testMailbox makes a folder of its own on the Dovecot of
// TOUSU_TEST_IMAP (skipping the test without it), removed when the test
// ends, and returns the mailbox name polling it and a function that
// delivers a raw message into it.
func testMailbox(tb testing.TB, name string) (imap.MailboxConfig, func(raw string)) {
	tb.Helper()
	folder := mailtest.New(tb, servertest.Require(tb, servertest.IMAP))
	box, err := imap.MailboxFromURL(name, folder.URL)
	if err != nil {
		tb.Fatal(err)
	}
	return box, func(raw string) { tb.Helper(); folder.Deliver(tb, raw) }
}

// checkRepliesFromOtherAddresses: mail answering the case first (whose
// customer wrote Message-ID e2e-1) from other addresses joins it: a
// colleague answering all (In-Reply-To), the customer from a second
// mailbox quoting the reference in the subject. After the case is
// resolved, a reply opens a new case linked to it.
func checkRepliesFromOtherAddresses(t *testing.T, r *running, first router.Case, deliver func(raw string)) {
	t.Helper()
	mail := func(from, subject, extra, id, body string) string {
		return "From: " + from + "\r\nTo: support@example.com\r\nSubject: " + subject + "\r\n" + extra +
			"Message-ID: <" + id + ">\r\nDate: Thu, 26 Nov 2026 11:00:00 +0800\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=UTF-8\r\n\r\n" + body + "\r\n"
	}
	deliver(mail("lisi@example.org", "Re: broadband", "In-Reply-To: <e2e-1@example.com>\r\nReferences: <e2e-1@example.com>\r\n",
		"e2e-reply-1@example.org", "我是张三的邻居，我们这栋楼的宽带也一样断了，请尽快处理。"))
	deliver(mail("zhangsan.home@example.net", "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("回复：受理编号"+first.ID+" 还没修好"))+"?=", "",
		"e2e-reply-2@example.net", "还是没有人来修，今天已经第三天了。"))
	attached := r.waitCase(t, first.ID, func(c router.Case) bool { return len(c.Contacts) >= 2 })
	from := map[string]string{}
	for _, ct := range attached.Contacts {
		from[ct.From.Email] = ct.Kind
	}
	if from["lisi@example.org"] != router.ContactReply || from["zhangsan.home@example.net"] != router.ContactReply || attached.Urgency != 2 {
		t.Errorf("replies on the case: contacts %+v, urgency %d", attached.Contacts, attached.Urgency)
	}
	// The replies' texts are contacts of the case, not cases of their own.
	if res := r.search(t, url.Values{"q": {`"第三天"`}}); res.Total != 0 || len(attached.References) != 3 {
		t.Errorf("a reply opened a case of its own: %+v; references of the case %v", res.Hits, attached.References)
	}

	// Resolved, the case takes no more replies: the next one opens a case
	// linked to it.
	if code := r.act(t, testToken, first.ID, map[string]string{"kind": "resolve", "note": "已修复"}); code != http.StatusAccepted {
		t.Fatalf("resolve: %d", code)
	}
	r.waitCase(t, first.ID, func(c router.Case) bool { return c.Status == router.StatusResolved })
	deliver(mail("wangwu@example.org", "Re: broadband", "In-Reply-To: <e2e-1@example.com>\r\n",
		"e2e-reply-3@example.org", "修好以后第二天又断网了，问题没有解决。"))
	res := r.waitFor(t, url.Values{"q": {`"第二天又断网"`}}, 1)
	if c := res.Hits[0]; c.ID == first.ID || !slices.Contains(c.LinkedCases, first.ID) || c.Customer.Email != "wangwu@example.org" {
		t.Errorf("reply to the resolved case: %+v, want a new case of its sender linked to %s", c, first.ID)
	}
}

func b64(tb testing.TB, s string) string {
	tb.Helper()
	enc, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString([]byte(enc))
}

// TestEndToEndHotlineFolder drops a GBK export, as Excel on Chinese
// Windows writes it, into DATA/hotline of a running tousu: its valid rows
// become cases found by a Chinese phrase, the invalid row is in the
// rejected file, and the summary says so.
func TestEndToEndHotlineFolder(t *testing.T) {
	dir := t.TempDir()
	r := startTousu(t, dir)
	csv := "工单号,受理时间,来电号码,客户姓名,业务类型,投诉内容\r\n" +
		"GD20261126001,2026/11/26 9:15:02,13800138000,张三,宽带,家里宽带断网两天，报修无人上门\r\n" +
		"GD20261126002,2026-11-26 09:20,0755-12345678,李四,移动,\"月初套餐费用多扣了30元，\r\n客服说查不到\"\r\n" +
		"GD20261126003,20261126,,王五,移动,没有留电话的投诉\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(csv)
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, DefaultHotlineFolder)
	if err := os.WriteFile(filepath.Join(folder, "export.csv.tmp"), []byte(gbk), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(folder, "export.csv.tmp"), filepath.Join(folder, "export.csv")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(folder, "export.csv.done"), nil, 0o644)

	r.waitFor(t, url.Values{"channel": {"hotline"}}, 2)
	res := r.search(t, url.Values{"q": {"宽带断网"}})
	if res.Total != 1 || res.Hits[0].Customer.Phone != "+8613800138000" || res.Hits[0].Customer.Name != "张三" {
		t.Errorf("q=宽带断网: %+v", res)
	}
	if res := r.search(t, url.Values{"q": {"多扣了30元"}}); res.Total != 1 {
		t.Errorf("q=多扣了30元: %d hits", res.Total)
	}
	// The row's work-order number and 业务类型 reach the case: the filters
	// and q find it by them.
	for _, query := range []url.Values{
		{"work_order": {"GD20261126002"}},
		{"q": {"GD20261126002"}},
		{"business_type": {"移动"}},
		{"phone": {"0755 1234 5678"}},
		{"customer": {"李四"}},
	} {
		res := r.search(t, query)
		if res.Total != 1 || !slices.Equal(res.Hits[0].WorkOrders, []string{"GD20261126002"}) || res.Hits[0].BusinessType != "移动" {
			t.Errorf("%s: %+v", query.Encode(), res)
		}
	}
	var summary struct {
		Outcome   string
		RowsRead  int `json:"rows_read"`
		Published int
		Rejected  int
	}
	summaryPath := filepath.Join(folder, "processed", "export.csv.summary.json")
	waitForFile(t, summaryPath)
	b, _ := os.ReadFile(summaryPath)
	if err := json.Unmarshal(b, &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Outcome != "processed" || summary.RowsRead != 3 || summary.Published != 2 || summary.Rejected != 1 {
		t.Errorf("summary = %s", b)
	}
	rejected, err := os.ReadFile(filepath.Join(folder, "processed", "export.csv.rejected.csv"))
	if err != nil || !strings.Contains(string(rejected), "GD20261126003") {
		t.Errorf("rejected file: %q %v", rejected, err)
	}
}

// waitForFile waits for a file to appear; the bound catches a folder that
// is never processed.
func waitForFile(tb testing.TB, path string) {
	tb.Helper()
	polltest.Until(tb, path+" to appear", func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

// TestSameMailInTwoMailboxesIsOneCase: the same mail (same Message-ID and
// sender) read from two mailboxes has two envelope ids but becomes one case.
func TestSameMailInTwoMailboxesIsOneCase(t *testing.T) {
	r := startTousu(t, t.TempDir())
	publish := publishEnvelope(r.producer, nil)
	for _, mailbox := range []string{"support", "sales"} {
		id := ingest.NewID(ingest.ChannelEmail, mailbox, "1/42")
		env := ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelEmail,
			Source: mailbox, ReceivedAt: time.Now(), Email: "zhang@example.com", Subject: "宽带", Description: "两个邮箱都收到的同一封投诉邮件",
			Extra: map[string]string{ingest.ExtraMessageID: "same-mail@example.com"}}
		if err := publish(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	}
	r.waitDrained(t)
	// The router would attach a second copy to the case as a duplicate
	// contact; the normalizer must not pass it on at all.
	if res := r.search(t, url.Values{"q": {"同一封投诉邮件"}}); res.Total != 1 || len(res.Hits[0].Complaints) != 1 {
		t.Errorf("cases %+v, want one holding one complaint", res.Hits)
	}
}

// TestMailReplyQuotingReferenceJoinsCase: a reply from the case's customer
// that quotes the reference in its subject is attached to that case.
func TestMailReplyQuotingReferenceJoinsCase(t *testing.T) {
	r := startTousu(t, t.TempDir())
	publish := publishEnvelope(r.producer, nil)
	send := func(uid, subject, text string) string {
		id := ingest.NewID(ingest.ChannelEmail, "support", "1/"+uid)
		env := ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelEmail,
			Source: "support", ReceivedAt: time.Now(), Email: "li@example.com", Subject: subject, Description: text}
		if err := publish(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		return env.Reference
	}
	first := send("1", "宽带断网", "我家宽带断网三天了，报修没人来")
	r.waitFor(t, url.Values{"reference": {first}}, 1)
	reply := send("2", "Re: 您的投诉 "+first+" 已受理", "请问什么时候能派人上门？")
	res := r.waitFor(t, url.Values{"reference": {reply}}, 1)
	if c := res.Hits[0]; c.ID != first || len(c.References) != 2 {
		t.Errorf("reply landed in %+v, want case %s with both references", c, first)
	}
}

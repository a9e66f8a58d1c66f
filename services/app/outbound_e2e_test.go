package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/proctest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/stages/sender"
	"github.com/tousu/tousu/sinks/outbound"
)

// The agent of the outbound test: an account of the case's department
// and an API token named after it.
const (
	outboundAgent      = "liu.yang"
	outboundAgentToken = "agent-liu-yang-token-0123456789"
)

// TestOutboundMailThroughARealMTA runs every target with the complaints
// mailbox on Dovecot (the folder Postfix delivers support+e2e to) and an
// SMTP sender to Postfix, and follows a customer who complains by e-mail:
// the acknowledgement reaches their mailbox with the reference, the
// deadline, UTF-8 and the headers of an automatic answer; an agent's reply
// reaches it threaded; the customer's answer to it joins the same case; a
// bounce and an out-of-office reply to the acknowledgement open no case
// and send nothing; the result notice and the survey arrive when the case
// is resolved, and the customer's answer on the survey page closes it.
func TestOutboundMailThroughARealMTA(t *testing.T) {
	mta := servertest.RequireMTA(t)
	imapURL := servertest.Require(t, servertest.IMAP)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	msgID := func(what string) string { return run + "." + what + "@customer.test" }
	done, quarantine := servertest.TestFolder+"-done", servertest.TestFolder+"-quarantine"
	support := supportFolders(t, imapURL, servertest.TestFolder, done, quarantine)

	box, err := imap.MailboxFromURL("support", support(servertest.TestFolder)+"&"+url.Values{
		"poll": {"200ms"}, "after": {"move"}, "move_to": {done}, "quarantine": {quarantine},
		"our_addresses": {mta.Support + "," + mta.TestFolderAddress()},
	}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	smtpCfg, err := outbound.SMTPFromURL("postfix", mta.URL+"&from="+url.QueryEscape("投诉受理中心 <"+mta.Support+">"))
	if err != nil {
		t.Fatal(err)
	}
	listen := proctest.FreeAddr(t)
	on := true
	r := startTousu(t, t.TempDir(), func(c *Config) {
		c.HTTP.Listen = listen
		c.IMAP.Mailboxes = []imap.MailboxConfig{box}
		c.Sender.SMTP = []sender.SMTPSender{{SMTPConfig: smtpCfg}}
		o := &c.Router.Outbound
		o.OurAddresses = []string{mta.Support, mta.TestFolderAddress()}
		o.Result, o.Survey, o.PublicURL = &on, &on, "http://"+listen
		c.Auth.Tokens = append(c.Auth.Tokens, httpapi.Token{Name: outboundAgent, Token: secret.Inline(outboundAgentToken), Role: httpapi.RoleAgent})
	})
	if r.base != "http://"+listen {
		t.Fatalf("tousu listens at %s, not at its public URL http://%s", r.base, listen)
	}
	customer := customerMailbox{tb: t, url: mta.CustomerMailbox, run: run}

	// 1. The customer mails a complaint from Foxmail: GB2312 declared,
	// GBK written (喆 is not in GB2312), base64.
	complaint := msgID("complaint")
	sendMail(t, mta.URL, mta.Customer, mta.TestFolderAddress(), gbkMail(t, "王喆", mta.Customer, mta.TestFolderAddress(), complaint,
		"宽带天天晚上断网，报修没人管",
		"你好：\r\n我家宽带从11月28号开始每天晚上七点到十点就断网，光猫LOS灯一直红着闪。\r\n"+
			"12月1日打10000报修，工单号GD20261201-0457，说48小时内上门，到现在还没人来！！\r\n"+
			"我在家办工，这几天损失很大，麻烦尽快处理。\r\n王喆 13912345678\r\n"))
	c := r.waitFor(t, url.Values{"channel": {"email"}}, 1).Hits[0]
	if c.Customer.Email != mta.Customer || c.Customer.Name != "王喆" || !strings.Contains(c.Description, "我在家办工") {
		t.Errorf("the complaint became case %s of %+v: %q", c.ID, c.Customer, c.Description)
	}
	if res := r.search(t, url.Values{"q": {"GD20261201-0457"}}); res.Total != 1 {
		t.Errorf("the work-order number in the mail finds %d cases, want 1", res.Total)
	}

	// 2. The acknowledgement, in the customer's mailbox.
	ack := customer.wait("the acknowledgement", func(m receivedMail) bool { return m.Header.Get("In-Reply-To") == "<"+complaint+">" })
	deadline, ok := router.MainDeadline(c)
	if !ok {
		t.Fatalf("case %s runs no clock to name in the acknowledgement: %+v", c.ID, c.Deadlines)
	}
	wantText := "我们将在" + router.ChineseDeadline(deadline.Due) + "前答复您"
	if !strings.Contains(ack.Subject, "[受理编号 "+c.ID+"]") || !strings.Contains(ack.Text, wantText) ||
		!strings.Contains(ack.Text, "王喆，您好") || !strings.Contains(ack.Text, c.ID) {
		t.Errorf("acknowledgement %q:\n%s\nwant the reference %s and %q", ack.Subject, ack.Text, c.ID, wantText)
	}
	if !regexp.MustCompile(`我们将在\d{4}年\d{1,2}月\d{1,2}日(\d{2}:\d{2})?前答复您`).MatchString(ack.Text) {
		t.Errorf("the deadline is not a plain Chinese date: %s", ack.Text)
	}
	if ack.Header.Get("Auto-Submitted") != "auto-replied" || ack.FromName != "投诉受理中心" || ack.From != mta.Support {
		t.Errorf("acknowledgement from %q <%s>, Auto-Submitted %q; want 投诉受理中心 <%s>, auto-replied",
			ack.FromName, ack.From, ack.Header.Get("Auto-Submitted"), mta.Support)
	}
	r.waitCase(t, c.ID, func(c router.Case) bool { return hasNote(c, "回执邮件已发送") })

	// 3. An agent of the case's department replies through the API.
	r.addAgent(t, outboundAgent, "刘洋", c.Route.Department)
	const answer = "经查您所在小区分光器故障，已约装维师傅12月6日下午2点到4点上门更换，请保持电话畅通。给您添麻烦了。"
	for _, a := range []map[string]string{{"kind": "take"}, {"kind": "reply", "note": answer}} {
		if code := r.act(t, outboundAgentToken, c.ID, a); code != http.StatusAccepted {
			t.Fatalf("%s by %s: %d", a["kind"], outboundAgent, code)
		}
	}
	reply := customer.wait("the agent's reply", func(m receivedMail) bool { return strings.Contains(m.Text, "分光器故障") })
	references := strings.Fields(reply.Header.Get("References"))
	if reply.Header.Get("Auto-Submitted") != "" || reply.Header.Get("In-Reply-To") != "<"+complaint+">" ||
		!slices.Contains(references, "<"+complaint+">") || !slices.Contains(references, ack.Header.Get("Message-ID")) ||
		!strings.Contains(reply.Subject, "[受理编号 "+c.ID+"]") {
		t.Errorf("reply %q with headers %v: want no Auto-Submitted, In-Reply-To the complaint and References the complaint and the acknowledgement",
			reply.Subject, reply.Header)
	}
	r.waitCase(t, c.ID, func(c router.Case) bool { return hasNote(c, "答复邮件已发送") })

	// 4. The customer answers the reply from their mail client. Same
	// customer, answering our mail: it joins the case as a reply contact,
	// not a repeat complaint (README: "The same mail twice, and replies").
	answerID := msgID("answer")
	sendMail(t, mta.URL, mta.Customer, mta.TestFolderAddress(), utf8Mail("王喆", mta.Customer, mta.TestFolderAddress(), answerID, "回复："+reply.Subject,
		"In-Reply-To: "+reply.Header.Get("Message-ID")+"\r\nReferences: "+reply.Header.Get("References")+" "+reply.Header.Get("Message-ID")+"\r\n",
		"师傅12月6号下午没来，打电话也没人接，白请了半天假。我明天（12月7日）全天在家，请改约时间。\r\n\r\n"+
			"------------------ 原始邮件 ------------------\r\n> "+answer+"\r\n"))
	joined := r.waitCase(t, c.ID, func(c router.Case) bool { return len(c.Contacts) > 0 })
	if ct := joined.Contacts[0]; ct.Kind != router.ContactReply || !strings.Contains(ct.Text, "改约时间") || len(joined.Contacts) != 1 {
		t.Errorf("the customer's answer joined the case as %d contacts, the first %+v; want one contact of kind %q", len(joined.Contacts), joined.Contacts[0], router.ContactReply)
	}
	if res := r.search(t, url.Values{"channel": {"email"}}); res.Total != 1 {
		t.Errorf("the customer's answer opened a case: %+v", res.Hits)
	}

	// 5. A late bounce and the customer's out-of-office reply to the
	// acknowledgement: the poller sets both aside, and nothing follows.
	bounce, away := msgID("dsn"), msgID("ooo")
	sendMail(t, mta.URL, "", mta.TestFolderAddress(), bounceMail(mta.TestFolderAddress(), bounce, ack))
	sendMail(t, mta.URL, mta.Customer, mta.TestFolderAddress(), utf8Mail("王喆", mta.Customer, mta.TestFolderAddress(), away, "自动回复："+ack.Subject,
		"In-Reply-To: "+ack.Header.Get("Message-ID")+"\r\nAuto-Submitted: auto-replied\r\n",
		"您好，我12月5日至12月9日休假，期间不方便查看邮件，急事请打我手机。\r\n"))
	for _, id := range []string{bounce, away} {
		polltest.Until(t, "the poller moved "+id+" to "+done, func() bool {
			mails, err := servertest.Mails(support(done), id)
			if err != nil {
				t.Fatal(err)
			}
			return len(mails) == 1
		})
	}
	r.waitDrained(t)
	if res := r.search(t, url.Values{"channel": {"email"}}); res.Total != 1 || len(res.Hits[0].Contacts) != 1 {
		var got []string
		for _, h := range res.Hits {
			got = append(got, fmt.Sprintf("%s %q with %d contacts", h.ID, h.Subject, len(h.Contacts)))
		}
		t.Errorf("after the bounce and the auto-reply: cases %v, want %s only, with its one contact", got, c.ID)
	}
	if n := len(customer.mails()); n != 2 {
		t.Errorf("the customer has %d mails, want the acknowledgement and the reply only", n)
	}

	// 6. The agent resolves the case: the result notice and the survey
	// arrive; the customer answers the survey from its link.
	const result = "已更换分光器，12月7日上午线路测试正常，连续观察两晚未再断网。断网期间月租费按天退还。"
	if code := r.act(t, outboundAgentToken, c.ID, map[string]string{"kind": "resolve", "note": result}); code != http.StatusAccepted {
		t.Fatalf("resolve: %d", code)
	}
	notice := customer.wait("the result notice", func(m receivedMail) bool { return strings.Contains(m.Text, "按天退还") })
	survey := customer.wait("the survey", func(m receivedMail) bool { return strings.Contains(m.Text, "/survey?t=") })
	if !strings.Contains(notice.Subject, c.ID) || !strings.Contains(survey.Subject, c.ID) {
		t.Errorf("result notice %q and survey %q, want both with the reference %s", notice.Subject, survey.Subject, c.ID)
	}
	link := regexp.MustCompile(`https?://[^\s]+/survey\?t=[^\s]+`).FindString(survey.Text)
	path, found := strings.CutPrefix(link, r.base)
	if !found {
		t.Fatalf("the survey's link %q does not lead to %s:\n%s", link, r.base, survey.Text)
	}
	s := newFormSession(t, r.base)
	fields := s.get(t, path)
	fields["t"] = strings.TrimPrefix(path, "/survey?t=")
	fields["satisfied"] = "yes"
	if code, page := s.post(t, "/survey", fields, "", nil); code != http.StatusOK || !strings.Contains(page, "感谢您的评价") {
		t.Fatalf("the survey's answer: %d %s", code, page)
	}
	closed := r.waitCase(t, c.ID, func(c router.Case) bool { return c.Status == router.StatusClosed })
	if !hasNote(closed, "在线评价 · 回访：客户满意") {
		t.Errorf("the timeline of the closed case does not show the survey's answer: %+v", closed.History)
	}
	r.waitDrained(t)
	if n := len(customer.mails()); n != 4 {
		t.Errorf("the customer has %d mails, want the acknowledgement, the reply, the result notice and the survey", n)
	}
}

// supportFolders empties the given folders of the complaints mailbox at
// imapURL (created afresh, deleted at the end of the test) and returns
// the URL of one of them.
func supportFolders(tb testing.TB, imapURL string, folders ...string) func(folder string) string {
	tb.Helper()
	u, err := url.Parse(imapURL)
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := imapclient.DialInsecure(u.Host, nil)
	if err != nil {
		tb.Fatal(err)
	}
	pass, _ := u.User.Password()
	if err := admin.Login(u.User.Username(), pass).Wait(); err != nil {
		tb.Fatal(err)
	}
	for _, f := range folders {
		admin.Delete(f).Wait() // left by an earlier run, or absent
		if err := admin.Create(f, nil).Wait(); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		for _, f := range folders {
			admin.Delete(f).Wait()
		}
		admin.Close()
	})
	return func(folder string) string {
		v := *u
		v.Path, v.RawQuery = "/"+folder, "tls=none"
		return v.String()
	}
}

// addAgent creates the agent account name of department through the
// admin API.
func (r *running) addAgent(tb testing.TB, name, display, department string) {
	tb.Helper()
	body := map[string]any{"name": name, "display_name": display, "role": "agent", "departments": []string{department}, "password": "初始密码-" + name}
	if code := r.api(tb, http.MethodPost, httpapi.PathAdminUsers, body, nil, nil); code != http.StatusCreated {
		tb.Fatalf("create the account %s: %d", name, code)
	}
}

// waitDrained waits until every consumer group of the process has read
// everything: what the last input caused has been done.
func (r *running) waitDrained(tb testing.TB) {
	tb.Helper()
	polltest.Until(tb, "the pipeline drained", func() bool {
		for _, g := range r.pipelineLag(context.Background()) {
			if g.Error != "" || g.Total != 0 {
				return false
			}
		}
		return true
	})
}

// hasNote reports whether the case's timeline has an entry with note.
func hasNote(c router.Case, note string) bool {
	return slices.ContainsFunc(c.History, func(e router.Event) bool { return e.Note == note })
}

// sendMail hands raw to the MTA at mtaURL (smtp://host:port?…) from the
// envelope sender from ("" for a bounce's null sender) to to.
func sendMail(tb testing.TB, mtaURL, from, to string, raw []byte) {
	tb.Helper()
	u, err := url.Parse(mtaURL)
	if err != nil {
		tb.Fatal(err)
	}
	if err := smtp.SendMail(u.Host, nil, from, []string{to}, raw); err != nil {
		tb.Fatalf("send mail to %s: %v (a Postfix started by an older deploy/dev/postfix.sh refuses the address of the test folder %q: stop and start it)", to, err, servertest.TestFolder)
	}
}

// mailDate is the Date of the customer's mail.
const mailDate = "Sat, 05 Dec 2026 21:47:13 +0800"

// gbkMail is a mail as Foxmail on Chinese Windows writes it: "gb2312"
// declared, GBK written, base64.
func gbkMail(tb testing.TB, name, from, to, id, subject, body string) []byte {
	tb.Helper()
	enc := func(s string) string {
		b, err := simplifiedchinese.GBK.NewEncoder().String(s)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	return []byte("From: =?gb2312?B?" + base64.StdEncoding.EncodeToString([]byte(enc(name))) + "?= <" + from + ">\r\n" +
		"To: <" + to + ">\r\nSubject: =?gb2312?B?" + base64.StdEncoding.EncodeToString([]byte(enc(subject))) + "?=\r\n" +
		"Date: " + mailDate + "\r\nMessage-ID: <" + id + ">\r\nMIME-Version: 1.0\r\nX-Mailer: Foxmail 7.2.25.254[cn]\r\n" +
		"Content-Type: text/plain; charset=\"gb2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap(base64.StdEncoding.EncodeToString([]byte(enc(body)))))
}

// utf8Mail is a UTF-8 mail with extra headers (each ending in CRLF),
// quoted-printable.
func utf8Mail(name, from, to, id, subject, extra, body string) []byte {
	return []byte("From: " + mime.BEncoding.Encode("UTF-8", name) + " <" + from + ">\r\nTo: <" + to + ">\r\n" +
		"Subject: " + mime.BEncoding.Encode("UTF-8", subject) + "\r\nDate: " + mailDate + "\r\nMessage-ID: <" + id + ">\r\n" + extra +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap(base64.StdEncoding.EncodeToString([]byte(body))))
}

// bounceMail is the report of the customer's MTA that the mailbox was
// full when it tried to store the acknowledgement: multipart/report with
// the delivery status and the acknowledgement's headers, without
// Auto-Submitted (not every MTA sets it); sent from the null sender, it
// is delivered with "Return-Path: <>".
func bounceMail(to, id string, ack receivedMail) []byte {
	return []byte("From: MAILER-DAEMON@mx.customer.test (Mail Delivery System)\r\nTo: <" + to + ">\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\nDate: " + mailDate + "\r\nMessage-ID: <" + id + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"DSN-7F3A\"\r\n\r\n" +
		"--DSN-7F3A\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
		"This is the mail system at host mx.customer.test.\r\n\r\nI'm sorry to have to inform you that your message could not\r\n" +
		"be delivered to one or more recipients.\r\n\r\n<kehu@customer.test>: mailbox full (552 5.2.2)\r\n\r\n" +
		"--DSN-7F3A\r\nContent-Type: message/delivery-status\r\n\r\n" +
		"Reporting-MTA: dns; mx.customer.test\r\nArrival-Date: " + mailDate + "\r\n\r\n" +
		"Final-Recipient: rfc822; kehu@customer.test\r\nAction: failed\r\nStatus: 5.2.2\r\n" +
		"Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n\r\n" +
		"--DSN-7F3A\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
		"From: " + ack.Header.Get("From") + "\r\nTo: " + ack.Header.Get("To") + "\r\nSubject: " + ack.Header.Get("Subject") + "\r\n" +
		"Message-ID: " + ack.Header.Get("Message-ID") + "\r\n\r\n--DSN-7F3A--\r\n")
}

// wrap breaks base64 into lines of 76 characters.
func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

// receivedMail is a mail as the customer's client shows it: the headers,
// the decoded subject, sender and text.
type receivedMail struct {
	Header         mail.Header
	Subject        string
	From, FromName string
	Text           string
}

// customerMailbox reads the customer's mailbox: the mails that answer
// mail of this run (their References name a Message-ID with run in it).
type customerMailbox struct {
	tb       testing.TB
	url, run string
}

// mails are the customer's mails of this run, in arrival order.
func (c customerMailbox) mails() []receivedMail {
	c.tb.Helper()
	raws, err := servertest.Search(c.url, "References", c.run)
	if err != nil {
		c.tb.Fatal(err)
	}
	var out []receivedMail
	for _, raw := range raws {
		out = append(out, readMail(c.tb, raw))
	}
	return out
}

// wait waits for the customer's mail of this run that ok accepts.
func (c customerMailbox) wait(what string, ok func(receivedMail) bool) receivedMail {
	c.tb.Helper()
	var found receivedMail
	polltest.Until(c.tb, what+" in the customer's mailbox", func() bool {
		for _, m := range c.mails() {
			if ok(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// readMail decodes one of tousu's mails: a text/plain UTF-8 body in
// base64, as the SMTP transport writes it; anything else fails the test.
func readMail(tb testing.TB, raw []byte) receivedMail {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("read mail: %v\n%s", err, raw)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		tb.Fatalf("subject %q: %v", msg.Header.Get("Subject"), err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		tb.Fatalf("From %q: %v", msg.Header.Get("From"), err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") ||
		!strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "base64") {
		tb.Fatalf("mail %q: Content-Type %q, Content-Transfer-Encoding %q; want text/plain; charset=UTF-8 in base64",
			subject, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"))
	}
	text, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, msg.Body))
	if err == nil && !utf8.Valid(text) {
		err = errors.New("not UTF-8")
	}
	if err != nil {
		tb.Fatalf("mail %q: body: %v", subject, err)
	}
	return receivedMail{Header: msg.Header, Subject: subject, From: from[0].Address, FromName: from[0].Name, Text: string(text)}
}

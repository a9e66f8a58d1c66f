package router

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// notifier builds a Notifier of cfg, provisioned, failing the test on
// an invalid configuration.
func notifier(tb testing.TB, cfg NotifyConfig) *Notifier {
	tb.Helper()
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	n, err := NewNotifier(cfg, []byte("survey key of the test.........."))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// complaintVia is a complaint on channel with the customer's contacts,
// received at.
func complaintVia(channel ingest.Channel, id, email, phone string, at time.Time) normalize.Complaint {
	c := normalize.Complaint{V: normalize.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: channel, ReceivedAt: at,
		Customer: normalize.Customer{Name: "王女士", Email: email, Phone: phone},
		Subject:  "宽带又断了", Description: "3月2号开始宽带断网，报修两次没人来，客服说48小时内处理，现在已经五天了！要求退费。"}
	switch {
	case phone != "":
		c.Customer.Key = "phone:" + phone
	case email != "":
		c.Customer.Key = "email:" + email
	default:
		c.Customer.Key = "anonymous:" + id
	}
	return c
}

func on() *bool { b := true; return &b }

func TestNotifyDecisions(t *testing.T) {
	e := telecom(t)
	t0 := at(t, "2026-03-02 09:30")
	ours := []string{"complaints@tousu.example.com", "@kefu.example.com"}
	full := NotifyConfig{Enabled: true, OurAddresses: ours, PublicURL: "https://tousu.example.com", MessageIDDomain: "tousu.example.com"}
	webSMS := full
	webSMS.WebMedia = []Medium{MediumEmail, MediumSMS}
	calls := full
	calls.CallMedia = []Medium{MediumSMS}
	off := NotifyConfig{}
	ackOnly := NotifyConfig{Ack: on()}
	resultOnly := NotifyConfig{Result: on(), PublicURL: full.PublicURL, MessageIDDomain: full.MessageIDDomain}

	mail := complaintVia(ingest.ChannelEmail, "email:1", "wang.li@163.com", "", t0)
	web := complaintVia(ingest.ChannelWebForm, "webform:1", "wangli@qq.com", "+8613912345678", t0)
	webPhone := complaintVia(ingest.ChannelWebForm, "webform:2", "", "+8613912345678", t0)
	webLandline := complaintVia(ingest.ChannelWebForm, "webform:3", "", "+861062345678", t0)
	hotline := complaintVia(ingest.ChannelHotline, "hotline:1", "", "+8613912345678", t0)
	fromUs := complaintVia(ingest.ChannelEmail, "email:2", "zhangsan@kefu.example.com", "", t0)
	badMail := complaintVia(ingest.ChannelWebForm, "webform:4", "wangli@localhost", "", t0)

	joinedToday := []Sent{{Case: "TSCASE", Kind: MessageJoined, At: t0.Add(-2 * time.Hour)}}
	joinedYesterday := []Sent{{Case: "TSCASE", Kind: MessageJoined, At: at(t, "2026-03-01 23:50")}}
	busy := []Sent{{Case: "TSX1", Kind: MessageAck, At: t0.Add(-50 * time.Minute)}, {Case: "TSX2", Kind: MessageAck, At: t0.Add(-30 * time.Minute)},
		{Case: "TSX3", Kind: MessageAck, At: t0.Add(-10 * time.Minute)}}
	calmer := busy[1:]

	resolve := Action{V: ActionVersion, ID: "a-resolve", Kind: ActionResolve, Actor: "1001", At: t0, Note: "已上门更换光猫，退还断网期间月租30元。"}
	reply := Action{V: ActionVersion, ID: "a-reply", Kind: ActionReply, Actor: "1001", At: t0, Note: "王女士您好，维修师傅今天下午2点上门。"}

	tests := []struct {
		name    string
		cfg     NotifyConfig
		comp    *normalize.Complaint
		outcome Outcome
		action  *Action
		sent    []Sent
		want    MessageKind // "" for no message
		medium  Medium
		to      string
	}{
		{"an e-mail complaint is acknowledged by e-mail", full, &mail, OutcomeNew, nil, nil, MessageAck, MediumEmail, "wang.li@163.com"},
		{"a repeat of a finished case opens a case: acknowledged", full, &mail, OutcomeRepeatFinished, nil, nil, MessageAck, MediumEmail, "wang.li@163.com"},
		{"acks are off unless configured", off, &mail, OutcomeNew, nil, nil, "", "", ""},
		{"ack on by its own switch", ackOnly, &mail, OutcomeNew, nil, nil, MessageAck, MediumEmail, "wang.li@163.com"},
		{"the web form: e-mail first", full, &web, OutcomeNew, nil, nil, MessageAck, MediumEmail, "wangli@qq.com"},
		{"the web form without e-mail, e-mail only configured: nothing", full, &webPhone, OutcomeNew, nil, nil, "", "", ""},
		{"the web form without e-mail, sms configured: sms", webSMS, &webPhone, OutcomeNew, nil, nil, MessageAck, MediumSMS, "+8613912345678"},
		{"a landline gets no sms", webSMS, &webLandline, OutcomeNew, nil, nil, "", "", ""},
		{"an address that is none gets nothing", webSMS, &badMail, OutcomeNew, nil, nil, "", "", ""},
		{"the hotline without call_media: nothing", full, &hotline, OutcomeNew, nil, nil, "", "", ""},
		{"the hotline with call_media sms", calls, &hotline, OutcomeNew, nil, nil, MessageAck, MediumSMS, "+8613912345678"},
		{"never to our own domain", full, &fromUs, OutcomeNew, nil, nil, "", "", ""},
		{"a duplicate joined: one short notice", full, &mail, OutcomeDuplicate, nil, nil, MessageJoined, MediumEmail, "wang.li@163.com"},
		{"a repeat joined: one short notice", full, &mail, OutcomeRepeat, nil, nil, MessageJoined, MediumEmail, "wang.li@163.com"},
		{"a second joined notice the same day: none", full, &mail, OutcomeRepeat, nil, joinedToday, "", "", ""},
		{"a joined notice yesterday (Shanghai) does not count", full, &mail, OutcomeRepeat, nil, joinedYesterday, MessageJoined, MediumEmail, "wang.li@163.com"},
		{"a redelivery: nothing", full, &mail, OutcomeRedelivered, nil, nil, "", "", ""},
		{"a reply from another address: nothing", full, &mail, OutcomeReply, nil, nil, "", "", ""},
		{"three messages in the last hour: no ack", full, &mail, OutcomeNew, nil, busy, "", "", ""},
		{"two in the last hour: ack", full, &mail, OutcomeNew, nil, calmer, MessageAck, MediumEmail, "wang.li@163.com"},
		{"resolve with results on: the result", resultOnly, nil, OutcomeApplied, &resolve, nil, MessageResult, MediumEmail, "wang.li@163.com"},
		{"resolve with results off: nothing", ackOnly, nil, OutcomeApplied, &resolve, nil, "", "", ""},
		{"a reply is written even with everything off", off, nil, OutcomeApplied, &reply, nil, MessageReply, MediumEmail, "wang.li@163.com"},
		{"a reply is not limited by the hour", full, nil, OutcomeApplied, &reply, busy, MessageReply, MediumEmail, "wang.li@163.com"},
		{"an action applied before: nothing", full, nil, OutcomeUnchanged, &reply, nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := notifier(t, tt.cfg)
			c := e.Open(mail, t0)
			if tt.comp != nil {
				c = e.Open(*tt.comp, t0)
			}
			c.ID = "TSCASE"
			got := n.Notify(NotifyInput{Case: c, Revision: 1, Outcome: tt.outcome, Complaint: tt.comp, Action: tt.action, Sent: tt.sent, Now: t0})
			if tt.want == "" {
				if len(got.Outgoing) != 0 {
					t.Fatalf("wrote %+v, want nothing", got.Outgoing)
				}
				if !slices.Equal(got.Sent, tt.sent) {
					t.Errorf("sent log %v, want it unchanged %v", got.Sent, tt.sent)
				}
				return
			}
			if len(got.Outgoing) != 1 {
				t.Fatalf("wrote %d messages (%s), want one %s", len(got.Outgoing), got.Skipped, tt.want)
			}
			o := got.Outgoing[0]
			if o.Kind != tt.want || o.Medium != tt.medium || o.To != tt.to || o.Case != "TSCASE" || o.Reference != "TSCASE" || o.Customer != c.Customer.Key || o.V != OutboxVersion {
				t.Errorf("wrote %s %s to %s (case %s), want %s %s to %s", o.Kind, o.Medium, o.To, o.Case, tt.want, tt.medium, tt.to)
			}
			if !strings.Contains(o.Text, "TSCASE") {
				t.Errorf("the text does not name the reference: %q", o.Text)
			}
			if tt.medium == MediumSMS && (o.Subject != "" || o.MessageID != "" || o.Params["reference"] != "TSCASE" || len([]rune(o.Text)) > 140) {
				t.Errorf("sms: subject %q, message id %q, params %v, %d characters", o.Subject, o.MessageID, o.Params, len([]rune(o.Text)))
			}
			if tt.medium == MediumEmail && !strings.Contains(o.Subject, "[受理编号 TSCASE]") {
				t.Errorf("subject %q does not carry the reference", o.Subject)
			}
			wantLog := len(recentSent(tt.sent, t0)) + 1
			if tt.want == MessageReply {
				wantLog--
			}
			if len(got.Sent) != wantLog {
				t.Errorf("sent log has %d entries, want %d", len(got.Sent), wantLog)
			}
		})
	}
}

func TestNotifyAckReads(t *testing.T) {
	e := telecom(t)
	t0 := at(t, "2026-02-25 10:00") // after the Spring Festival holiday
	mail := complaintVia(ingest.ChannelEmail, "email:1", "wang.li@163.com", "", t0)
	n := notifier(t, NotifyConfig{Enabled: true, PublicURL: "https://tousu.example.com/", MessageIDDomain: "tousu.example.com"})
	c := e.Open(mail, t0)
	dl, ok := MainDeadline(c)
	if !ok || dl.Name != "reply" || dl.Stop != EventReplied {
		t.Fatalf("main deadline %+v, want the reply clock that stops when the customer is answered", dl)
	}
	got := n.Notify(NotifyInput{Case: c, Revision: 1, Outcome: OutcomeNew, Complaint: &mail, Now: t0})
	if len(got.Outgoing) != 1 {
		t.Fatalf("no ack: %s", got.Skipped)
	}
	o := got.Outgoing[0]
	// 15 working days from 2026-02-25 on the official calendar: the
	// make-up working Saturday 2026-02-28 counts, the weekends do not.
	for _, want := range []string{"王女士，您好", "受理编号：" + c.ID, "我们将在2026年3月17日前答复您", "网络运维部将核实",
		"https://tousu.example.com/status?reference=" + c.ID} {
		if !strings.Contains(o.Text, want) {
			t.Errorf("the ack lacks %q:\n%s", want, o.Text)
		}
	}
	if o.Subject != "[受理编号 "+c.ID+"] 您的投诉已受理" {
		t.Errorf("subject %q", o.Subject)
	}
}

func TestChineseDeadline(t *testing.T) {
	tests := []struct {
		due  time.Time
		want string
	}{
		{at(t, "2026-03-12 00:00"), "2026年3月11日"},
		{at(t, "2026-03-11 15:00"), "2026年3月11日15:00"},
		{time.Date(2026, 3, 11, 16, 0, 0, 0, time.UTC), "2026年3月11日"}, // midnight in Shanghai: the end of the 11th
		{time.Date(2026, 12, 31, 17, 30, 0, 0, time.UTC), "2027年1月1日01:30"},
	}
	for _, tt := range tests {
		if got := ChineseDeadline(tt.due); got != tt.want {
			t.Errorf("ChineseDeadline(%s) = %q, want %q", tt.due, got, tt.want)
		}
	}
}

// TestNotifyThreading checks that the router's e-mail threads under the
// customer's mail and that the customer's answer to it finds the case
// by the reply matching that exists (normalize.ReplyClues).
func TestNotifyThreading(t *testing.T) {
	e := telecom(t)
	t0 := at(t, "2026-03-02 09:30")
	first := mailFrom("email:1", "wang.li@163.com", "CAF=x1@mail.163.com", t0)
	n := notifier(t, NotifyConfig{Enabled: true, MessageIDDomain: "tousu.example.com"})
	c := e.Open(first, t0)
	c.MessageIDs = addMessageID(nil, "CAF=x1@mail.163.com")

	ack := n.Notify(NotifyInput{Case: c, Revision: 1, Outcome: OutcomeNew, Complaint: &first, Now: t0})
	if len(ack.Outgoing) != 1 {
		t.Fatalf("no ack: %s", ack.Skipped)
	}
	a := ack.Outgoing[0]
	if a.InReplyTo != "CAF=x1@mail.163.com" || !slices.Equal(a.References, []string{"CAF=x1@mail.163.com"}) ||
		!strings.HasSuffix(a.MessageID, "@tousu.example.com") || a.ID != c.ID+"/ack/1" {
		t.Errorf("ack %s: Message-ID %q, In-Reply-To %q, References %v", a.ID, a.MessageID, a.InReplyTo, a.References)
	}
	if !slices.Equal(ack.Case.MessageIDs, []string{"CAF=x1@mail.163.com", a.MessageID}) {
		t.Errorf("case Message-IDs %v, want the customer's and the ack's", ack.Case.MessageIDs)
	}
	if again := n.Notify(NotifyInput{Case: c, Revision: 1, Outcome: OutcomeNew, Complaint: &first, Now: t0.Add(time.Minute)}); again.Outgoing[0].ID != a.ID ||
		again.Outgoing[0].MessageID != a.MessageID {
		t.Errorf("decided again: %s %s, want the same id and Message-ID %s %s", again.Outgoing[0].ID, again.Outgoing[0].MessageID, a.ID, a.MessageID)
	}

	// The agent's reply answers the customer's latest mail, not the ack.
	reply := Action{V: ActionVersion, ID: "a-7", Case: c.ID, Kind: ActionReply, Actor: "1001", At: t0.Add(time.Hour), Note: "您好，已安排师傅下午上门。"}
	r := n.Notify(NotifyInput{Case: ack.Case, Revision: 2, Outcome: OutcomeApplied, Action: &reply, Now: reply.At}).Outgoing[0]
	if r.ID != c.ID+"/reply/a-7" || r.InReplyTo != "CAF=x1@mail.163.com" || !slices.Equal(r.References, []string{"CAF=x1@mail.163.com", a.MessageID}) ||
		!strings.Contains(r.Text, "已安排师傅下午上门") || r.Action != "a-7" {
		t.Errorf("reply %s: In-Reply-To %q, References %v, text %q", r.ID, r.InReplyTo, r.References, r.Text)
	}

	// The customer answers the reply from their phone's mail app.
	answer := mailFrom("email:9", "wang.li@163.com", "9F2@mail.163.com", t0.Add(2*time.Hour))
	answer.Subject = "回复：" + r.Subject
	answer.Extra[normalize.ExtraInReplyTo] = r.MessageID
	refs, ids := normalize.ReplyClues(answer)
	if !slices.Equal(refs, []string{c.ID}) || !slices.Contains(ids, r.MessageID) {
		t.Errorf("ReplyClues(%q) = %v, %v; want the reference %s and the reply's Message-ID", answer.Subject, refs, ids, c.ID)
	}
}

func TestNotifyConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  NotifyConfig
		want string // "" valid, else a substring of the error
	}{
		{"defaults", NotifyConfig{}, ""},
		{"a pack's templates", NotifyConfig{Templates: map[string]TemplateSet{"telecom": {MessageAck: {SMS: "【某某通信】受理编号{{.Reference}}，{{.Deadline}}前答复"}}}}, ""},
		{"a template that does not parse", NotifyConfig{Templates: map[string]TemplateSet{"telecom": {MessageAck: {Text: "受理编号{{.Reference"}}}},
			"templates.telecom.ack.text:"},
		{"a field cases have not", NotifyConfig{Templates: map[string]TemplateSet{"default": {MessageResult: {SMS: "{{.Resolution}}"}}}},
			"templates.default.result.sms:"},
		{"a function that fails", NotifyConfig{Templates: map[string]TemplateSet{"hotel": {MessageReply: {Subject: `{{index .Reference 99}}`}}}},
			"templates.hotel.reply.subject:"},
		{"an unknown kind", NotifyConfig{Templates: map[string]TemplateSet{"telecom": {"thanks": {Text: "谢谢"}}}}, "templates.telecom.thanks:"},
		{"not a pack name", NotifyConfig{Templates: map[string]TemplateSet{"电信": {}}}, "templates.电信:"},
		{"a web medium", NotifyConfig{WebMedia: []Medium{"wechat"}}, "web_media[0]:"},
		{"the hotline by e-mail", NotifyConfig{CallMedia: []Medium{MediumEmail}}, "call_media[0]:"},
		{"our addresses", NotifyConfig{OurAddresses: []string{"@kefu.example.com", "投诉中心 <ts@example.com>"}}, "our_addresses[1]:"},
		{"a link with a query", NotifyConfig{PublicURL: "https://tousu.example.com/?a=1"}, "public_url:"},
		{"a link without scheme", NotifyConfig{PublicURL: "tousu.example.com"}, "public_url:"},
		{"a domain", NotifyConfig{MessageIDDomain: "tousu example.com"}, "message_id_domain:"},
		{"a negative limit", NotifyConfig{MaxPerHour: -1}, "max_per_customer_per_hour:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Provision()
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNotifyPackTemplates(t *testing.T) {
	e := telecom(t)
	t0 := at(t, "2026-03-02 09:30")
	mail := complaintVia(ingest.ChannelEmail, "email:1", "wang.li@163.com", "", t0)
	n := notifier(t, NotifyConfig{Enabled: true, Templates: map[string]TemplateSet{
		"default": {MessageAck: {Subject: "[受理编号 {{.Reference}}] 已收到"}},
		"telecom": {MessageAck: {Text: "电信：{{.Reference}} {{.DeadlineTitle}}"}},
		"hotel":   {MessageAck: {Text: "酒店：{{.Reference}}"}},
	}})
	c := e.Open(mail, t0)
	o := n.Notify(NotifyInput{Case: c, Revision: 1, Outcome: OutcomeNew, Complaint: &mail, Now: t0}).Outgoing[0]
	if o.Text != "电信："+c.ID+" 答复用户" || o.Subject != "[受理编号 "+c.ID+"] 已收到" {
		t.Errorf("subject %q text %q, want the pack's text and the default subject", o.Subject, o.Text)
	}
	c.Pack = "property@2026.1"
	o = n.Notify(NotifyInput{Case: c, Revision: 1, Outcome: OutcomeNew, Complaint: &mail, Now: t0}).Outgoing[0]
	if !strings.Contains(o.Text, "您的投诉已受理") {
		t.Errorf("a pack without templates gets the built-in text, got %q", o.Text)
	}
}

func TestReplyAndDeliveryActions(t *testing.T) {
	e := telecom(t)
	t0 := at(t, "2026-03-02 09:30")
	mail := complaintVia(ingest.ChannelEmail, "email:1", "wang.li@163.com", "", t0)
	opened := e.Open(mail, t0)
	noContact := e.Open(complaintVia(ingest.ChannelHotline, "hotline:1", "", "+861062345678", t0), t0)
	reply := func(c Case, id, note string) Action {
		a := act(c, id, ActionReply, "1001", t0.Add(time.Hour))
		a.Note = note
		return a
	}

	replied := apply(t, e, opened, reply(opened, "r1", "王女士您好，师傅今天下午上门。"))
	if d := replied.deadline("reply"); d == nil || d.StoppedAt.IsZero() || !d.Met {
		t.Errorf("the reply clock (答复用户) did not stop at the reply: %+v", d)
	}
	if replied.Status != opened.Status || replied.History[len(replied.History)-1].Detail != "以邮件答复客户" {
		t.Errorf("status %s, history %+v", replied.Status, replied.History)
	}
	if d := replied.deadline("acknowledge"); d == nil || !d.StoppedAt.IsZero() {
		t.Errorf("another clock stopped at the reply: %+v", d)
	}
	resolved := apply(t, e, opened, Action{V: ActionVersion, ID: "x", Case: opened.ID, Customer: opened.Customer.Key, Kind: ActionResolve, Actor: "1001", At: t0.Add(time.Hour), Note: "已修复"})
	if d := resolved.deadline("reply"); d == nil || d.StoppedAt.IsZero() {
		t.Errorf("resolving does not stop the reply clock: %+v", d)
	}

	refusals := []struct {
		name string
		c    Case
		a    Action
		code string
	}{
		{"a reply without text", opened, reply(opened, "r2", "  "), CodeNoteRequired},
		{"a reply to a customer without e-mail or mobile", noContact, reply(noContact, "r3", "您好"), CodeNoContact},
		{"a delivery from an agent", opened, deliveryActionAs(opened, "1001"), CodeKind},
		{"an event named replied", opened, Action{V: ActionVersion, ID: "ev", Case: opened.ID, Customer: opened.Customer.Key, Kind: ActionEvent, Actor: "1001", At: t0, Event: EventReplied}, CodeUnknownEvent},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := e.Apply(tt.c, tt.a)
			if r := ReasonOf(err); err == nil || r.Code != tt.code || !strings.ContainsFunc(r.Message, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
				t.Errorf("Apply = %v (%+v), want refused %s in Chinese", err, r, tt.code)
			}
		})
	}

	if err := CheckAgentAction(reply(opened, "r4", "您好")); err != nil {
		t.Errorf("an agent may reply: %v", err)
	}
	o := Outgoing{ID: opened.ID + "/ack/1", Kind: MessageAck, Medium: MediumEmail, Case: opened.ID, Customer: opened.Customer.Key}
	sent := DeliveryAction(o, DeliverySent, "", t0.Add(time.Minute))
	if err := CheckAgentAction(sent); err == nil || ReasonOf(err).Code != CodeKind {
		t.Errorf("an agent may not report a delivery: %v", err)
	}
	smsReply := Outgoing{ID: opened.ID + "/reply/r1", Kind: MessageReply, Medium: MediumSMS, Case: opened.ID, Customer: opened.Customer.Key}
	deliveries := []struct {
		a    Action
		want string
	}{
		{sent, "回执邮件已发送"},
		{DeliveryAction(smsReply, DeliveryFailed, "号码已停机", t0.Add(time.Minute)), "答复短信发送失败：号码已停机"},
		{DeliveryAction(Outgoing{ID: "odd", Case: opened.ID, Customer: opened.Customer.Key}, DeliveryFailed, "", t0), "消息发送失败：原因不明"},
	}
	for _, d := range deliveries {
		c, changed, _, err := e.Apply(opened, d.a)
		if err != nil || !changed {
			t.Fatalf("Apply(%s) = %v, changed %v", d.a.ID, err, changed)
		}
		ev := c.History[len(c.History)-1]
		if ev.Note != d.want || ev.Actor != DeliveryActor || c.Status != opened.Status || strings.Contains(ev.Note+ev.Detail, "wang.li") {
			t.Errorf("history %+v, want %q without the address, status unchanged", ev, d.want)
		}
		if _, changed, _, err := e.Apply(c, d.a); err != nil || changed {
			t.Errorf("the same delivery again: changed %v, %v", changed, err)
		}
	}
}

// deliveryActionAs is a delivery action on c sent by actor.
func deliveryActionAs(c Case, actor string) Action {
	a := DeliveryAction(Outgoing{ID: c.ID + "/ack/1", Case: c.ID, Customer: c.Customer.Key}, DeliverySent, "", c.ReceivedAt)
	a.Actor = actor
	return a
}

func TestNotifyDefaults(t *testing.T) {
	off := false
	tests := []struct {
		name    string
		cfg     NotifyConfig
		emailOn bool
		ack     bool
		domain  string
	}{
		{"no sender", NotifyConfig{}, false, false, DefaultMessageIDDomain},
		{"an SMTP sender turns e-mail acks on", NotifyConfig{}, true, true, "example.com"},
		{"unless the configuration turned them off", NotifyConfig{Ack: &off}, true, false, "example.com"},
		{"a configured domain stays", NotifyConfig{MessageIDDomain: "kefu.example.com"}, true, true, "kefu.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Provision() // the app may set the defaults after Provision
			if tt.emailOn {
				tt.cfg.Defaults(true, "example.com")
			}
			n := notifier(t, tt.cfg)
			if n.On(MessageAck) != tt.ack || n.cfg.MessageIDDomain != tt.domain {
				t.Errorf("ack %v, domain %q; want %v, %q", n.On(MessageAck), n.cfg.MessageIDDomain, tt.ack, tt.domain)
			}
		})
	}
}

func TestNotifyCheckPacks(t *testing.T) {
	cfg := NotifyConfig{Templates: map[string]TemplateSet{"default": {}, "telecom": {}, "hotle": {}}}
	err := cfg.CheckPacks([]string{"telecom@2026.1", "hotel@2026.1"})
	if err == nil || err.Error() != "templates.hotle: no pack of that name is loaded (loaded: telecom, hotel)" {
		t.Errorf("CheckPacks = %v, want the typo named", err)
	}
	if err := cfg.CheckPacks([]string{"telecom@2026.1", "hotle@1"}); err != nil {
		t.Errorf("CheckPacks = %v with every pack loaded", err)
	}
}

// TestNotifySurvey: resolving a case with surveys on writes the result
// notice and the follow-up survey, whose link opens the survey page for
// the case at the revision it was resolved at; without a public URL or
// a key the survey is skipped and says why, the result still written.
func TestNotifySurvey(t *testing.T) {
	e := telecom(t)
	t0 := at(t, "2026-03-09 16:00")
	key := []byte("survey key of the test..........")
	cfg := NotifyConfig{Result: on(), Survey: on(), PublicURL: "https://tousu.example.com/", MessageIDDomain: "tousu.example.com"}
	mail := complaintVia(ingest.ChannelEmail, "email:9", "wang.li@163.com", "+8613912345678", t0)
	c := e.Open(mail, t0)
	resolve := Action{ID: "console:1001:r9", Kind: ActionResolve, Actor: "1001", Note: "已更换光猫，宽带恢复正常"}
	got := notifier(t, cfg).Notify(NotifyInput{Case: c, Revision: 5, Outcome: OutcomeApplied, Action: &resolve, Now: t0})
	if len(got.Outgoing) != 2 || got.Outgoing[0].Kind != MessageResult || got.Outgoing[1].Kind != MessageSurvey {
		t.Fatalf("wrote %+v (%s), want a result and a survey", got.Outgoing, got.Skipped)
	}
	survey := got.Outgoing[1]
	link := survey.Text[strings.Index(survey.Text, "https://"):]
	link = strings.Fields(link)[0]
	token, ok := strings.CutPrefix(link, "https://tousu.example.com/survey?t=")
	if !ok {
		t.Fatalf("the survey's text links %q", link)
	}
	s, err := OpenSurvey(key, token, t0.Add(6*24*time.Hour))
	if err != nil || s.Case != c.ID || s.Revision != 5 {
		t.Fatalf("the link opens %+v, %v", s, err)
	}
	if _, err := OpenSurvey(key, token, t0.Add(8*24*time.Hour)); err == nil {
		t.Error("the link still opens after survey_days")
	}
	if survey.ID == got.Outgoing[0].ID || survey.MessageID == got.Outgoing[0].MessageID || len(got.Sent) != 2 {
		t.Errorf("ids %s and %s, message ids %s and %s, sent log %v", got.Outgoing[0].ID, survey.ID, got.Outgoing[0].MessageID, survey.MessageID, got.Sent)
	}
	if !slices.Contains(got.Case.MessageIDs, survey.MessageID) {
		t.Error("the survey's Message-ID is not on the case: an answer to it would not find the case")
	}

	noLink := cfg
	noLink.Survey, noLink.Enabled, noLink.PublicURL = nil, true, ""
	got = notifier(t, noLink).Notify(NotifyInput{Case: c, Revision: 5, Outcome: OutcomeApplied, Action: &resolve, Now: t0})
	if len(got.Outgoing) != 1 || got.Outgoing[0].Kind != MessageResult || !strings.Contains(got.Skipped, "survey") {
		t.Fatalf("without a public URL: wrote %+v, skipped %q", got.Outgoing, got.Skipped)
	}
	bad := NotifyConfig{Survey: on()}
	bad.Provision()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "survey: the survey's link needs public_url") {
		t.Fatalf("survey without public_url validates: %v", err)
	}
}

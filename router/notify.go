package router

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// Notifier decides the messages the router writes to customers when a
// case changes (Notify). It is built once from the configuration and is
// safe for concurrent use; Notify is pure.
type Notifier struct {
	cfg       NotifyConfig
	templates compiledTemplates
	// surveyKey signs the follow-up survey links (SignSurvey).
	surveyKey []byte
}

// NewNotifier compiles the templates of cfg (provisioned and validated).
// surveyKey signs the links of follow-up surveys; it must be the key the
// survey page verifies them with (the server secret's
// key.Derive("survey")). Without one no survey is written.
func NewNotifier(cfg NotifyConfig, surveyKey []byte) (*Notifier, error) {
	t, err := compileTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	if cfg.MessageIDDomain == "" {
		cfg.MessageIDDomain = DefaultMessageIDDomain
	}
	return &Notifier{cfg: cfg, templates: t, surveyKey: surveyKey}, nil
}

// On reports whether the router writes messages of kind: an agent's
// reply always, the others as configured.
func (n *Notifier) On(kind MessageKind) bool { return n.cfg.On(kind) }

// Sent is a message the router wrote to a customer, kept (with the
// customer's state) for the limits: at most MaxPerHour automatic messages
// per customer per hour, one joined notice per case per day.
type Sent struct {
	Case string      `json:"case"`
	Kind MessageKind `json:"kind"`
	At   time.Time   `json:"at"`
}

// SentKeep is how long a Sent is kept: long enough for both limits.
const SentKeep = 25 * time.Hour

// NotifyInput is a decision of the router on one case, as Notify reads it.
type NotifyInput struct {
	// Case is the case as the decision changed or opened it, and
	// Revision the revision it is written at.
	Case     Case
	Revision int64
	// Outcome is what the complaint or action turned out to be.
	Outcome Outcome
	// Complaint is the complaint decided (nil for an action).
	Complaint *normalize.Complaint
	// Action is the action applied (nil for a complaint).
	Action *Action
	// Sent are the messages written to the case's customer lately.
	Sent []Sent
	// Now is when the router decides.
	Now time.Time
}

// Notified is what Notify decided.
type Notified struct {
	// Case is the case with the Message-IDs of its new e-mails added
	// (Case.MessageIDs), so that the customer's answer finds it.
	Case Case
	// Outgoing are the messages to write on the outbox topic.
	Outgoing []Outgoing
	// Sent is the customer's Sent with these messages added and those
	// older than SentKeep left out.
	Sent []Sent
	// Skipped says, in English, why a message the decision called for is
	// not written (the limits, no usable contact, a template that failed
	// to render); empty otherwise.
	Skipped string
}

// kindsOf are the messages a decision calls for: an acknowledgement of
// the case a complaint opened, a joined notice for a duplicate or repeat
// that joined an open case, an agent's reply, a result notice and the
// follow-up survey (回访) when a case is resolved; none for anything else.
// An e-mail reply from another address (a colleague answering all) gets
// nothing, nor does a redelivery.
func kindsOf(in NotifyInput) []MessageKind {
	switch {
	case in.Complaint != nil && (in.Outcome == OutcomeNew || in.Outcome == OutcomeRepeatFinished):
		return []MessageKind{MessageAck}
	case in.Complaint != nil && (in.Outcome == OutcomeDuplicate || in.Outcome == OutcomeRepeat):
		return []MessageKind{MessageJoined}
	case in.Action != nil && in.Outcome == OutcomeApplied && in.Action.Kind == ActionReply:
		return []MessageKind{MessageReply}
	case in.Action != nil && in.Outcome == OutcomeApplied && in.Action.Kind == ActionResolve:
		return []MessageKind{MessageResult, MessageSurvey}
	}
	return nil
}

// Notify decides the message to the customer a decision calls for
// (kindOf), when its kind is on (On). The recipient: for an ack or a
// joined notice, the contact the complaint gave on its channel (an
// e-mail complaint is answered by e-mail; the web form and the API by the
// first of WebMedia the customer gave a usable contact for; the hotline
// and webhooks by CallMedia, sms to a mobile number); for a reply, the
// case's e-mail address, else its mobile number; for a result, the
// case's channel as for an ack. Never to one of OurAddresses, nor to an
// address or number that is none. The automatic kinds are limited to
// MaxPerHour per customer in any hour, and a joined notice to one per
// case per calendar day (Asia/Shanghai).
//
// Automatic mail never opens a case (the e-mail channel quarantines
// auto-replies and bounces), so an ack never answers one: there is no
// mail loop.
func (n *Notifier) Notify(in NotifyInput) Notified {
	out := Notified{Case: in.Case, Sent: recentSent(in.Sent, in.Now)}
	var skipped []string
	for _, kind := range kindsOf(in) {
		if !n.On(kind) {
			continue
		}
		if why := n.write(kind, in, &out); why != "" {
			skipped = append(skipped, why)
		}
	}
	out.Skipped = strings.Join(skipped, "; ")
	return out
}

// write adds the message of kind to out (its Outgoing, the Message-ID on
// its case, its Sent), or says why it is not written.
func (n *Notifier) write(kind MessageKind, in NotifyInput, out *Notified) string {
	c := out.Case
	if kind != MessageReply {
		if why := n.limited(kind, c.ID, out.Sent, in.Now); why != "" {
			return why
		}
	}
	medium, to := n.recipient(kind, in)
	if to == "" {
		return fmt.Sprintf("no usable contact for a %s of a %s case", kind, c.Channel)
	}
	o := Outgoing{V: OutboxVersion, ID: fmt.Sprintf("%s/%s/%d", c.ID, kind, in.Revision), Kind: kind, Medium: medium,
		Case: c.ID, Customer: c.Customer.Key, Reference: c.ID, Pack: c.Pack, To: to, CreatedAt: in.Now}
	d := messageData(c, n.cfg.PublicURL)
	if in.Action != nil {
		o.Action = in.Action.ID
		switch kind {
		case MessageReply:
			o.ID = c.ID + "/reply/" + in.Action.ID
			d.Text = in.Action.Note
		case MessageResult:
			d.Result = in.Action.Note
		}
	}
	if kind == MessageSurvey {
		if n.cfg.PublicURL == "" || len(n.surveyKey) == 0 {
			return "no public URL or survey key for the survey's link"
		}
		resolved := c
		resolved.Revision = in.Revision
		d.SurveyLink = SurveyLink(n.cfg.PublicURL, n.surveyKey, resolved, in.Now.AddDate(0, 0, n.cfg.SurveyDays))
	}
	if err := n.render(&o, c.Pack, d); err != nil {
		return fmt.Sprintf("the %s template failed: %v", kind, err)
	}
	if medium == MediumEmail {
		o.ToName = c.Customer.Name
		o.MessageID = n.messageID(c.ID, o.ID)
		o.InReplyTo = n.customerLatest(c.MessageIDs)
		o.References = threadReferences(c.MessageIDs)
		out.Case.MessageIDs = addMessageID(c.MessageIDs, o.MessageID)
	}
	out.Outgoing = append(out.Outgoing, o)
	if kind != MessageReply {
		out.Sent = append(out.Sent, Sent{Case: c.ID, Kind: kind, At: in.Now})
	}
	return ""
}

// recentSent is sent without what is older than SentKeep as of now.
func recentSent(sent []Sent, now time.Time) []Sent {
	return slices.DeleteFunc(slices.Clone(sent), func(s Sent) bool { return now.Sub(s.At) > SentKeep })
}

// limited says why an automatic message of kind on case may not be
// written now, "" when it may.
func (n *Notifier) limited(kind MessageKind, caseID string, sent []Sent, now time.Time) string {
	hour := 0
	for _, s := range sent {
		if now.Sub(s.At) < time.Hour {
			hour++
		}
		if kind == MessageJoined && s.Kind == MessageJoined && s.Case == caseID && ChineseDay(s.At) == ChineseDay(now) {
			return "a joined notice was written for the case today"
		}
	}
	if hour >= n.cfg.MaxPerHour {
		return fmt.Sprintf("%d messages to the customer in the last hour", hour)
	}
	return ""
}

// recipient picks the medium and the address or number of a message.
func (n *Notifier) recipient(kind MessageKind, in NotifyInput) (Medium, string) {
	c := in.Case
	cu, channel := c.Customer, c.Channel
	if in.Complaint != nil {
		cu, channel = in.Complaint.Customer, in.Complaint.Channel
	}
	var media []Medium
	switch {
	case kind == MessageReply:
		media = []Medium{MediumEmail, MediumSMS}
	case channel == ingest.ChannelEmail:
		media = []Medium{MediumEmail}
	case channel == ingest.ChannelWebForm || channel == ingest.ChannelAPI:
		media = n.cfg.WebMedia
	case channel == ingest.ChannelHotline || channel == ingest.ChannelWebhook:
		media = n.cfg.CallMedia
	}
	for _, m := range media {
		if to := usable(cu, m, n.cfg.OurAddresses); to != "" {
			return m, to
		}
	}
	return "", ""
}

// ReplyMedium is how an agent's reply reaches the customer of c: by
// e-mail when the case has an address, else by text message to its
// mobile number; false when neither.
func ReplyMedium(c Case) (Medium, bool) {
	for _, m := range []Medium{MediumEmail, MediumSMS} {
		if usable(c.Customer, m, nil) != "" {
			return m, true
		}
	}
	return "", false
}

// render fills o's Subject, Text and Params from the templates of pack
// (name@version) for o's kind and medium.
func (n *Notifier) render(o *Outgoing, pack string, d MessageData) error {
	name, _, _ := strings.Cut(pack, "@")
	set, ok := n.templates[name]
	if !ok {
		set = n.templates[DefaultTemplates]
	}
	t := set[o.Kind]
	var err error
	if o.Medium == MediumSMS {
		o.Text, err = render(t.sms, d)
		o.Params = d.params()
		return err
	}
	if o.Subject, err = render(t.subject, d); err != nil {
		return err
	}
	o.Subject = strings.Join(strings.Fields(o.Subject), " ")
	o.Text, err = render(t.text, d)
	return err
}

// messageIDPrefix starts the local part of the router's Message-IDs.
const messageIDPrefix = "tousu."

// messageID is the Message-ID (without angle brackets) of the e-mail
// with delivery id id on case: fixed by both, so a redelivered decision
// gives the same one.
func (n *Notifier) messageID(caseID, id string) string {
	sum := sha256.Sum256([]byte(id))
	return messageIDPrefix + strings.ToLower(caseID) + "." + hex.EncodeToString(sum[:8]) + "@" + n.cfg.MessageIDDomain
}

// ours reports whether a Message-ID is one of the router's.
func (n *Notifier) ours(id string) bool {
	return strings.HasPrefix(id, messageIDPrefix) && strings.HasSuffix(id, "@"+n.cfg.MessageIDDomain)
}

// customerLatest is the latest Message-ID of the customer's mail among
// ids, "" when there is none.
func (n *Notifier) customerLatest(ids []string) string {
	for i := len(ids) - 1; i >= 0; i-- {
		if !n.ours(ids[i]) {
			return ids[i]
		}
	}
	return ""
}

// maxThreadReferences bounds the References header of the router's mail:
// the case's first Message-ID and its latest.
const maxThreadReferences = 10

// threadReferences are the case's Message-IDs for a References header:
// the first and the latest, at most maxThreadReferences.
func threadReferences(ids []string) []string {
	if len(ids) <= maxThreadReferences {
		return slices.Clone(ids)
	}
	return append([]string{ids[0]}, ids[len(ids)-maxThreadReferences+1:]...)
}

// kindLabels name the kinds of message on the case's timeline.
var kindLabels = map[MessageKind]string{MessageAck: "回执", MessageJoined: "并案通知", MessageReply: "答复",
	MessageResult: "结果通知", MessageSurvey: "回访邀请"}

// mediumLabels name the media on the case's timeline.
var mediumLabels = map[Medium]string{MediumEmail: "邮件", MediumSMS: "短信"}

// deliveryNote says what became of a message on the case's timeline, in
// Chinese and without the address: 回执邮件已发送, 答复短信发送失败：….
func deliveryNote(a Action) string {
	what := "消息"
	if parts := strings.Split(a.Message, "/"); len(parts) >= 3 {
		if l, ok := kindLabels[MessageKind(parts[1])]; ok {
			what = l
		}
	}
	if m, ok := mediumLabels[Medium(a.Field)]; ok {
		what += m
	}
	if a.Delivery == DeliverySent {
		return what + "已发送"
	}
	reason := strings.TrimSpace(a.Reason)
	if reason == "" {
		reason = "原因不明"
	}
	return what + "发送失败：" + reason
}

package router

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// NotifyConfig says what the router writes to customers (the outbound
// section of the router's configuration): which kinds of message, on
// which media, within which limits, and with which templates. Every kind
// but the agent's reply is off unless Enabled or its own switch turns it
// on; an agent's reply is always written, since an agent asked for it.
type NotifyConfig struct {
	// Enabled turns on every kind whose own switch is not set.
	Enabled bool `yaml:"enabled"`
	// Ack, Joined and Result turn one kind on or off whatever Enabled
	// says: the acknowledgement of a new case (受理回执), the notice that a
	// duplicate or repeat joined an open case (已并入…), and the result
	// notice when a case is resolved.
	Ack    *bool `yaml:"ack"`
	Joined *bool `yaml:"joined"`
	Result *bool `yaml:"result"`
	// Survey turns on the follow-up survey (回访满意度调查) written when a
	// case is resolved: a link to the survey page (PublicURL +
	// "/survey?t=…", signed, valid SurveyDays days) whose answer records
	// the follow-up visit. It needs PublicURL.
	Survey *bool `yaml:"survey"`
	// SurveyDays is how long a survey link takes an answer (default 7).
	SurveyDays int `yaml:"survey_days"`
	// WebMedia are the media tried, in order, for a complaint from the web
	// form or the API: the first the customer gave a usable contact for
	// (default [email]).
	WebMedia []Medium `yaml:"web_media"`
	// CallMedia are those for the hotline and partner webhooks: only sms,
	// to a mobile number (default none).
	CallMedia []Medium `yaml:"call_media"`
	// OurAddresses are our own addresses ("@domain" matches the domain),
	// as the mailboxes list them: never written to.
	OurAddresses []string `yaml:"our_addresses"`
	// MaxPerHour bounds the automatic messages (ack, joined, result) to
	// one customer in any hour (default 3). An agent's reply is not
	// counted against it.
	MaxPerHour int `yaml:"max_per_customer_per_hour"`
	// PublicURL is where customers reach the gateway, e.g.
	// https://tousu.example.com; the status page link is PublicURL +
	// "/status?reference=…". Empty: messages carry no link.
	PublicURL string `yaml:"public_url"`
	// MessageIDDomain is the right-hand side of the Message-IDs of the
	// router's e-mails: the domain of the sender's From address, which
	// the app sets (Defaults); DefaultMessageIDDomain when empty.
	MessageIDDomain string `yaml:"message_id_domain"`
	// Templates are the texts by pack name ("default" for every pack) and
	// kind; a field a pack leaves empty comes from "default", one that
	// leaves empty from the built-in template.
	Templates map[string]TemplateSet `yaml:"templates"`
}

// TemplateSet are the templates of one pack, by kind of message.
type TemplateSet map[MessageKind]MessageTemplate

// MessageTemplate is how one kind of message reads: text/template
// templates over MessageData, in Simplified Chinese. Subject and Text
// make the e-mail; SMS is the short text message.
type MessageTemplate struct {
	Subject string `yaml:"subject"`
	Text    string `yaml:"text"`
	SMS     string `yaml:"sms"`
}

// DefaultTemplates is the name of the templates every pack uses.
const DefaultTemplates = "default"

// DefaultMaxPerHour is the default of NotifyConfig.MaxPerHour.
const DefaultMaxPerHour = 3

// DefaultSurveyDays is the default of NotifyConfig.SurveyDays.
const DefaultSurveyDays = 7

// DefaultMessageIDDomain is the Message-ID domain without
// MessageIDDomain.
const DefaultMessageIDDomain = "localhost"

// Defaults sets what the app knows from the sender's configuration,
// before or after Provision and before the Notifier is built: with an
// e-mail sender configured (emailOn), acknowledgements are on unless Ack
// is set, and the Message-IDs take fromDomain, the domain of the sender's
// From address, unless MessageIDDomain is set.
func (c *NotifyConfig) Defaults(emailOn bool, fromDomain string) {
	if emailOn && c.Ack == nil {
		on := true
		c.Ack = &on
	}
	if c.MessageIDDomain == "" {
		c.MessageIDDomain = fromDomain
	}
}

// On reports whether the router writes messages of kind: an agent's
// reply always, the others as configured: their own switch when set,
// else Enabled. Writing surveys needs the server secret's survey key.
func (c NotifyConfig) On(kind MessageKind) bool {
	sw := map[MessageKind]*bool{MessageAck: c.Ack, MessageJoined: c.Joined, MessageResult: c.Result, MessageSurvey: c.Survey}
	switch {
	case kind == MessageReply:
		return true
	case sw[kind] != nil:
		return *sw[kind]
	}
	return c.Enabled
}

// EmailsProgress reports whether a customer who gave only an e-mail
// address hears of their complaint's progress by e-mail, given whether an
// e-mail sender is configured (emailOn): web complaints are written to by
// e-mail and acknowledgements or result notices are on.
func (c NotifyConfig) EmailsProgress(emailOn bool) bool {
	return emailOn && slices.Contains(c.WebMedia, MediumEmail) && (c.On(MessageAck) || c.On(MessageResult))
}

// Provision fills the defaults.
func (c *NotifyConfig) Provision() {
	if c.WebMedia == nil {
		c.WebMedia = []Medium{MediumEmail}
	}
	if c.MaxPerHour == 0 {
		c.MaxPerHour = DefaultMaxPerHour
	}
	if c.SurveyDays == 0 {
		c.SurveyDays = DefaultSurveyDays
	}
}

// CheckPacks checks that the templates name loaded packs (by name, as
// "telecom" of telecom@2026.1): a template for a pack that is not loaded
// is a typo that would never apply.
func (c NotifyConfig) CheckPacks(loaded []string) error {
	var names []string
	for _, l := range loaded {
		name, _, _ := strings.Cut(l, "@")
		names = append(names, name)
	}
	var errs []error
	for name := range c.Templates {
		if name != DefaultTemplates && !slices.Contains(names, name) {
			errs = append(errs, fmt.Errorf("templates.%s: no pack of that name is loaded (loaded: %s)", name, strings.Join(names, ", ")))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// domainPattern is a DNS name as a Message-ID's right-hand side may be.
var domainPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// packNamePattern is a pack's name as the templates name it.
var packNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Validate checks the media, the addresses, the link and the domain, and
// compiles every template of every pack and kind and renders it against a
// sample case: a template that does not parse or render is an error
// naming its key path (templates.telecom.ack.text).
func (c NotifyConfig) Validate() error {
	var errs []error
	for i, m := range c.WebMedia {
		if m != MediumEmail && m != MediumSMS {
			errs = append(errs, fmt.Errorf("web_media[%d]: %q is not email or sms", i, m))
		}
	}
	for i, m := range c.CallMedia {
		if m != MediumSMS {
			errs = append(errs, fmt.Errorf("call_media[%d]: %q: hotline and webhook complaints are answered by sms only", i, m))
		}
	}
	for i, a := range c.OurAddresses {
		addr := a
		if strings.HasPrefix(a, "@") {
			addr = "postmaster" + a
		}
		if ingest.CheckEmail(addr) != nil {
			errs = append(errs, fmt.Errorf("our_addresses[%d]: %q is neither an address nor @domain", i, a))
		}
	}
	if c.MaxPerHour < 0 {
		errs = append(errs, fmt.Errorf("max_per_customer_per_hour: must be positive, got %d", c.MaxPerHour))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("public_url: %q is not an http(s) URL without query, such as https://tousu.example.com", c.PublicURL))
		}
	}
	if c.SurveyDays < 0 {
		errs = append(errs, fmt.Errorf("survey_days: must be positive, got %d", c.SurveyDays))
	}
	if c.Survey != nil && *c.Survey && c.PublicURL == "" {
		errs = append(errs, errors.New("survey: the survey's link needs public_url"))
	}
	if c.MessageIDDomain != "" && !domainPattern.MatchString(c.MessageIDDomain) {
		errs = append(errs, fmt.Errorf("message_id_domain: %q is not a domain name", c.MessageIDDomain))
	}
	if _, err := compileTemplates(c.Templates); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// MessageData are the fields templates read. Every value is already
// formatted for a person to read.
type MessageData struct {
	// Reference is the case's reference (受理编号).
	Reference string
	// Name is how the customer is addressed: their name, else "客户".
	Name string
	// Subject is the case's subject, Category its category, and
	// Department the department handling it.
	Subject, Category, Department string
	// Received is the day the complaint was received, e.g. 2026年2月25日.
	Received string
	// Deadline is the main deadline (Notifier.MainDeadline) in plain
	// Chinese, e.g. 2026年3月11日; DeadlineTitle its clock, e.g. 答复用户.
	// Both empty when the case runs no clock.
	Deadline, DeadlineTitle string
	// StatusLink is the customer status page of the case, empty without
	// a public URL.
	StatusLink string
	// Text is the agent's text of a reply.
	Text string
	// Result is the result of a resolved case (the resolve's note).
	Result string
	// SurveyLink is the follow-up survey's link of a survey message.
	SurveyLink string
}

// builtinTemplates are the templates a pack and "default" leave out.
var builtinTemplates = TemplateSet{
	MessageAck: {
		Subject: "[受理编号 {{.Reference}}] 您的投诉已受理",
		Text: `{{.Name}}，您好：

您的投诉已受理，受理编号：{{.Reference}}。
{{if .Deadline}}我们将在{{.Deadline}}前答复您。
{{end}}接下来，{{if .Department}}{{.Department}}将{{else}}我们将{{end}}核实您反映的情况，必要时会与您电话联系；处理完毕后会告知您结果。
{{if .StatusLink}}查询处理进度：{{.StatusLink}}
{{end}}
如需补充材料，请直接回复本邮件，并保留标题中的受理编号。
（本邮件由系统自动发送）
`,
		SMS: `您的投诉已受理，受理编号{{.Reference}}{{if .Deadline}}，我们将在{{.Deadline}}前答复您{{end}}。{{if .StatusLink}}查询进度：{{.StatusLink}}{{end}}`,
	},
	MessageJoined: {
		Subject: "[受理编号 {{.Reference}}] 您的来信已并入原投诉",
		Text: `{{.Name}}，您好：

您的来信已并入受理编号{{.Reference}}，我们将一并处理，无需重复提交。
{{if .StatusLink}}查询处理进度：{{.StatusLink}}
{{end}}（本邮件由系统自动发送）
`,
		SMS: `您的来信已并入受理编号{{.Reference}}，我们将一并处理。`,
	},
	MessageReply: {
		Subject: "[受理编号 {{.Reference}}] 关于您的投诉的答复",
		Text: `{{.Name}}，您好：

{{.Text}}

受理编号：{{.Reference}}
{{if .StatusLink}}查询处理进度：{{.StatusLink}}
{{end}}如有疑问，请直接回复本邮件。
`,
		SMS: `{{.Text}}（受理编号{{.Reference}}）`,
	},
	MessageResult: {
		Subject: "[受理编号 {{.Reference}}] 您的投诉已办结",
		Text: `{{.Name}}，您好：

您的投诉（受理编号{{.Reference}}）已办结。
处理结果：{{.Result}}

如对处理结果有异议，请直接回复本邮件。
`,
		SMS: `您的投诉（受理编号{{.Reference}}）已办结：{{.Result}}`,
	},
	MessageSurvey: {
		Subject: "[受理编号 {{.Reference}}] 请评价我们的处理",
		Text: `{{.Name}}，您好：

您的投诉（受理编号{{.Reference}}）已办结，请花一分钟告诉我们您是否满意：
{{.SurveyLink}}
`,
		SMS: `您的投诉（受理编号{{.Reference}}）已办结，请评价：{{.SurveyLink}}`,
	},
}

// messageKinds are the kinds templates are kept for, in order.
var messageKinds = []MessageKind{MessageAck, MessageJoined, MessageReply, MessageResult, MessageSurvey}

// compiledTemplate is one kind's templates, each field resolved.
type compiledTemplate struct {
	subject, text, sms *template.Template
}

// compiledTemplates are every pack's templates by pack name and kind.
type compiledTemplates map[string]map[MessageKind]compiledTemplate

// compileTemplates resolves and compiles every pack's templates and
// renders each against a sample case; the error names the key path.
func compileTemplates(sets map[string]TemplateSet) (compiledTemplates, error) {
	names := []string{DefaultTemplates}
	for name := range sets {
		if name != DefaultTemplates {
			names = append(names, name)
		}
	}
	slices.Sort(names[1:])
	var errs []error
	out := compiledTemplates{}
	for _, name := range names {
		if name != DefaultTemplates && !packNamePattern.MatchString(name) {
			errs = append(errs, fmt.Errorf("templates.%s: not a pack name (lower-case letters, digits, - and _) or %q", name, DefaultTemplates))
			continue
		}
		for kind := range sets[name] {
			if !slices.Contains(messageKinds, kind) {
				errs = append(errs, fmt.Errorf("templates.%s.%s: not a kind of message (%v)", name, kind, messageKinds))
			}
		}
		out[name] = map[MessageKind]compiledTemplate{}
		for _, kind := range messageKinds {
			var ct compiledTemplate
			for _, f := range []struct {
				field string
				of    func(MessageTemplate) string
				into  **template.Template
			}{
				{"subject", func(t MessageTemplate) string { return t.Subject }, &ct.subject},
				{"text", func(t MessageTemplate) string { return t.Text }, &ct.text},
				{"sms", func(t MessageTemplate) string { return t.SMS }, &ct.sms},
			} {
				src := f.of(sets[name][kind])
				if src == "" {
					src = f.of(sets[DefaultTemplates][kind])
				}
				if src == "" {
					src = f.of(builtinTemplates[kind])
				}
				key := fmt.Sprintf("templates.%s.%s.%s", name, kind, f.field)
				t, err := template.New(key).Option("missingkey=error").Parse(src)
				if err == nil {
					_, err = render(t, sampleData)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", key, err))
					continue
				}
				*f.into = t
			}
			out[name][kind] = ct
		}
	}
	return out, errors.Join(errs...)
}

// sampleData are the fields of a sample case every template must render.
var sampleData = MessageData{Reference: "TS0123456789", Name: "王女士", Subject: "宽带断网三天", Category: "网络问题", Department: "网络运维部",
	Received: "2026年2月25日", Deadline: "2026年3月11日", DeadlineTitle: "答复用户", StatusLink: "https://tousu.example.com/status?reference=TS0123456789",
	Text: "您好，经核查，您所在小区光缆已于3月2日修复。", Result: "已退还断网期间月租费30元。", SurveyLink: "https://tousu.example.com/survey?t=sample"}

// render executes t over d.
func render(t *template.Template, d MessageData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// customerZone is the zone customers read dates in, Asia/Shanghai
// (China has no daylight saving time).
var customerZone = time.FixedZone("Asia/Shanghai", 8*3600)

// ChineseDay writes t's day in Asia/Shanghai as 2026年3月11日.
func ChineseDay(t time.Time) string {
	t = t.In(customerZone)
	return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
}

// ChineseDeadline writes a due time in plain Chinese for "我们将在…前答复您":
// a due time at midnight (the end of the clock's last day) is that last
// day, 2026年3月11日; any other is the day and the time, 2026年3月11日15:00.
func ChineseDeadline(due time.Time) string {
	d := due.In(customerZone)
	if d.Hour() == 0 && d.Minute() == 0 && d.Second() == 0 {
		return ChineseDay(d.Add(-time.Second))
	}
	return ChineseDay(d) + d.Format("15:04")
}

// MainDeadline is the deadline a message to the customer names: the
// running clock that waits for the reply (stopped by EventReplied), else
// the running clock started when the complaint was received that ends
// last. False when the case runs no such clock.
func MainDeadline(c Case) (Deadline, bool) {
	var best Deadline
	found := false
	for _, d := range c.Deadlines {
		if !d.StoppedAt.IsZero() || d.Due.IsZero() {
			continue
		}
		if d.Stop == EventReplied {
			return d, true
		}
		if (d.Start == "" || d.Start == EventReceived) && (!found || d.Due.After(best.Due)) {
			best, found = d, true
		}
	}
	return best, found
}

// messageData are the fields of case c for its messages.
func messageData(c Case, publicURL string) MessageData {
	d := MessageData{Reference: c.ID, Name: c.Customer.Name, Subject: c.Subject, Category: c.Category, Department: c.Route.Department,
		Received: ChineseDay(c.ReceivedAt)}
	if strings.TrimSpace(d.Name) == "" {
		d.Name = "客户"
	}
	if dl, ok := MainDeadline(c); ok {
		d.Deadline, d.DeadlineTitle = ChineseDeadline(dl.Due), dl.Title
	}
	if publicURL != "" {
		d.StatusLink = strings.TrimRight(publicURL, "/") + "/status?reference=" + url.QueryEscape(c.ID)
	}
	return d
}

// params are the named values of d an SMS provider's pre-approved
// template takes.
func (d MessageData) params() map[string]string {
	p := map[string]string{"reference": d.Reference, "name": d.Name}
	for k, v := range map[string]string{"deadline": d.Deadline, "status_link": d.StatusLink, "text": d.Text, "result": d.Result, "survey_link": d.SurveyLink} {
		if v != "" {
			p[k] = v
		}
	}
	return p
}

// mobilePattern is a mainland Chinese mobile number in E.164, the only
// numbers text messages go to.
var mobilePattern = regexp.MustCompile(`^\+861[3-9][0-9]{9}$`)

// Mobile reports whether the E.164 number p is a mainland mobile number.
func Mobile(p string) bool { return mobilePattern.MatchString(p) }

// usable returns the contact of customer cu on medium m, "" when there is
// none a message can go to: no mobile number, or an address that is no
// address or one of ours.
func usable(cu normalize.Customer, m Medium, ours []string) string {
	switch m {
	case MediumEmail:
		if cu.Email != "" && ingest.CheckEmail(cu.Email) == nil && !ingest.IsOurAddress(cu.Email, ours) {
			return cu.Email
		}
	case MediumSMS:
		if Mobile(cu.Phone) {
			return cu.Phone
		}
	}
	return ""
}

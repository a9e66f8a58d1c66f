package webform

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
)

// ErrUnknownReference is returned by a StatusLookup for a reference it
// does not know (yet: a complaint is indexed a few seconds after its
// receipt).
var ErrUnknownReference = errors.New("webform: unknown reference")

// CaseStatus is what the status page shows a customer about a case:
// nothing internal (no internal clock, no internal note).
type CaseStatus struct {
	Reference string
	// Status is where the case stands in the customer's words: 已受理,
	// 处理中, 已答复, 已办结 or 已关闭.
	Status     string
	Category   string
	ReceivedAt time.Time
	// Steps are the steps of the case in order, each reached or not.
	Steps []StatusStep
	// Deadline is the customer-facing deadline as the customer reads it,
	// e.g. "答复用户：2026年12月24日前"; empty when none is set.
	Deadline string
	// Result is the resolution's text an agent marked as customer-visible;
	// empty otherwise.
	Result string
	// Survey is the token of the follow-up survey (see SurveyBook) while
	// the case takes the customer's answer, satisfied or not; empty
	// otherwise.
	Survey string
	// Appeal is where the customer may turn when not satisfied, and
	// AppealBasis the rule that gives it; empty when the rules name none.
	Appeal, AppealBasis string
	// Phone is the customer's phone number as stored (+8613800138000); the
	// page checks its last four digits. Empty for e-mail-only complaints,
	// which the status page cannot show.
	Phone string
}

// StatusStep is one step of a case's progress: its label, whether the
// case reached it, and when (zero when not known).
type StatusStep struct {
	Label   string
	Reached bool
	At      time.Time
}

// StatusLookup finds the case of a reference (受理编号). LookupStatus is
// called concurrently from request handlers; it must honour ctx (the page
// bounds it with Config.PublishTimeout) and return ErrUnknownReference, or
// an error wrapping it, for a reference it does not know. Any other error
// is shown to the customer as a temporary failure.
type StatusLookup interface {
	LookupStatus(ctx context.Context, reference string) (CaseStatus, error)
}

// statusView is a found case, formatted for the page.
type statusView struct {
	Reference, Status, Category, ReceivedAt, Deadline string
	Steps                                             []stepView
	Result, Appeal, AppealBasis                       string
	// Survey is the satisfied / not satisfied form, posted to the survey
	// page; nil when the case takes no answer.
	Survey *surveyView
}

// stepView is a step formatted for the page.
type stepView struct {
	Label, At       string
	Reached, Latest bool
}

// shanghai is China Standard Time. China has kept UTC+8 without daylight
// saving since 1991, so a fixed zone is exact and needs no tzdata.
var shanghai = time.FixedZone("CST", 8*60*60)

// Status page messages. Wrong digits and unknown references get the same
// message so that references cannot be probed.
const (
	msgNotFound = "未找到与该受理编号和手机号码后四位相符的投诉。请核对后重试；刚提交的投诉需要几秒钟后才能查询。"
	msgBadRef   = "受理编号格式不正确：应为 TS 开头加 10 位字母或数字，例如 TS3K9QW2M7PX。"
	msgBadLast4 = "请填写登记手机号码的最后四位数字。"
)

// MountStatus registers the status page on app:
//
//	GET  /status  the look-up form (?reference=TS… pre-fills it)
//	POST /status  shows status and deadline when the reference and the
//	              last four digits of the stored phone number match
//
// The customer must enter the last four digits of the phone number the
// complaint was made with; complaints with an e-mail address only cannot
// be looked up here (the page says so, and promises progress by e-mail
// only with Config.EmailProgress). A resolved case offers the follow-up
// survey's form, answered through the survey page (MountSurvey).
// POST /status is CSRF protected and rate limited per IP, and each
// reference is locked for a while after Config.MaxStatusFailures failed
// look-ups (see lookupStatus). A Form without a publish function also
// registers the privacy notice and the logo here (see Mount), since every
// page links to them.
func (f *Form) MountStatus(app fiber.Router, lookup StatusLookup) {
	if f.publish == nil {
		f.mountOrganisation(app) // else Mount did
	}
	app.Get("/status", f.csrf, f.showStatus)
	app.Post("/status", rejectEncodedBody, f.statusLimit, f.csrf, func(c *fiber.Ctx) error {
		return f.lookupStatus(c, lookup)
	})
}

func (f *Form) statusPage(c *fiber.Ctx, reference, digits string, errs map[string]string) pageData {
	return pageData{
		Title:         "投诉进度查询",
		Base:          mountBase(c),
		EmailProgress: f.cfg.EmailProgress,
		Fields: []fieldView{
			{Name: "reference", Label: "受理编号", Type: "text", Autocomplete: "off", Required: true, Value: echo(reference), Error: errs["reference"], Hint: "提交投诉后页面上显示的编号，以 TS 开头。"},
			{Name: "digits", Label: "手机号码后四位", Type: "text", Autocomplete: "off", InputMode: "numeric", Required: true, Value: echo(digits), Error: errs["digits"]},
		},
	}
}

func (f *Form) showStatus(c *fiber.Ctx) error {
	ref, ok := normalizeReference(c.Query("reference"))
	if !ok {
		ref = ""
	}
	return f.render(c, fiber.StatusOK, "status", f.statusPage(c, ref, "", nil))
}

func (f *Form) lookupStatus(c *fiber.Ctx, lookup StatusLookup) error {
	values := formValues(c)
	rawRef, rawDigits := values["reference"], values["digits"]
	ref, refOK := normalizeReference(rawRef)
	digits, digitsOK := lastFour(rawDigits)
	errs := make(map[string]string)
	if !refOK {
		errs["reference"] = msgBadRef
	}
	if !digitsOK {
		errs["digits"] = msgBadLast4
	}
	if len(errs) > 0 {
		f.m.lookups.WithLabelValues("invalid").Inc()
		page := f.statusPage(c, rawRef, rawDigits, errs)
		page.Summary = msgFixFields
		return f.render(c, fiber.StatusUnprocessableEntity, "status", page)
	}

	// Every look-up of a reference is recorded before it is made; a
	// successful one clears the count. Once MaxStatusFailures look-ups
	// failed within StatusLockWindow the reference is locked, on every
	// replica, for right digits too, so that the lock tells nothing.
	key := statusLedgerKey(ref)
	if retry, locked := f.statusLocked(key, 0); locked {
		return f.statusLockedPage(c, ref, retry)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), f.cfg.PublishTimeout)
	defer cancel()
	unavailable := func(msg string, err error) error {
		f.m.lookups.WithLabelValues("unavailable").Inc()
		f.log.Error(msg, zap.String("reference", ref), zap.Error(err))
		c.Set(fiber.HeaderRetryAfter, "10")
		page := f.statusPage(c, ref, rawDigits, nil)
		page.Summary = "系统繁忙，请稍后再试。"
		return f.render(c, fiber.StatusServiceUnavailable, "status", page)
	}
	if err := f.shared.Ledger.Append(ctx, key, []byte(LockTried)); err != nil {
		return unavailable("cannot record a status look-up", err)
	}
	// Concurrent look-ups of one reference all got past the first check.
	if retry, locked := f.statusLocked(key, 1); locked {
		return f.statusLockedPage(c, ref, retry)
	}
	cs, err := lookup.LookupStatus(ctx, ref)
	if err != nil && !errors.Is(err, ErrUnknownReference) {
		return unavailable("status lookup failed", err)
	}
	if err != nil || !phoneEndsWith(cs.Phone, digits) {
		f.m.lookups.WithLabelValues("not_found").Inc()
		page := f.statusPage(c, ref, "", nil)
		page.Summary = msgNotFound
		return f.render(c, fiber.StatusNotFound, "status", page)
	}
	if err := f.shared.Ledger.Append(ctx, key, []byte(LockForgive)); err != nil {
		// The customer's look-up was recorded as tried: at worst it
		// counts towards the lock.
		f.log.Warn("cannot record a successful status look-up", zap.String("reference", ref), zap.Error(err))
	}
	f.m.lookups.WithLabelValues("found").Inc()
	page := f.statusPage(c, ref, "", nil)
	page.Status = newStatusView(ref, cs)
	page.Survey = page.Status.Survey
	return f.render(c, fiber.StatusOK, "status", page)
}

// newStatusView formats a found case for the page.
func newStatusView(ref string, cs CaseStatus) *statusView {
	v := &statusView{
		Reference:   ref,
		Status:      orDash(cs.Status),
		Category:    orDash(cs.Category),
		ReceivedAt:  formatTime(cs.ReceivedAt),
		Deadline:    orDash(cs.Deadline),
		Result:      cs.Result,
		Appeal:      cs.Appeal,
		AppealBasis: cs.AppealBasis,
	}
	for _, s := range cs.Steps {
		at := ""
		if s.Reached && !s.At.IsZero() {
			at = formatTime(s.At)
		}
		v.Steps = append(v.Steps, stepView{Label: s.Label, At: at, Reached: s.Reached, Latest: s.Reached && s.Label == cs.Status})
	}
	if cs.Survey != "" && len(cs.Survey) <= MaxSurveyTokenBytes {
		v.Survey = &surveyView{Token: cs.Survey, Reference: ref, Status: v.Status, Category: v.Category, Open: true}
	}
	return v
}

// Values of ledger records that LockedFor counts: a failed try, and a
// success that forgives the tries before it. The status page records each
// look-up as a try and a found reference as a success; the console its
// sign-ins.
const (
	LockTried   = "tried"
	LockForgive = "found"
)

// statusLedgerKey is the ledger key of a reference's look-ups.
func statusLedgerKey(ref string) string { return "status:" + ref }

// statusLocked reports whether the reference whose look-ups are recorded
// under key is locked, and for how long. extra is how many of the
// recorded look-ups are the current request's own (0 before it is
// recorded, 1 after): the limit allows them on top.
func (f *Form) statusLocked(key string, extra int) (time.Duration, bool) {
	return LockedFor(f.shared.Ledger.Entries(key), time.Now(), f.cfg.MaxStatusFailures+extra, f.cfg.StatusLockWindow)
}

// LockedFor decides the lock of one key (a reference, an account) from its
// ledger records: it is locked when at least limit tries (LockTried) since
// its last success (LockForgive) fell within window before now, until
// the oldest of those leaves the window (the returned wait, at least a
// second).
func LockedFor(entries []LedgerEntry, now time.Time, limit int, window time.Duration) (time.Duration, bool) {
	var tried []time.Time
	for _, e := range entries {
		switch {
		case string(e.Value) == LockForgive:
			tried = tried[:0]
		case string(e.Value) == LockTried && now.Sub(e.At) < window:
			tried = append(tried, e.At)
		}
	}
	if len(tried) < limit {
		return 0, false
	}
	return max(tried[0].Add(window).Sub(now), time.Second), true
}

// statusLockedPage answers a look-up of a locked reference: the same page
// for every locked reference, known or not.
func (f *Form) statusLockedPage(c *fiber.Ctx, ref string, retry time.Duration) error {
	f.m.lookups.WithLabelValues("locked").Inc()
	f.log.Info("status look-up of a locked reference", zap.String("reference", ref), zap.String("remote_addr", c.IP()))
	minutes := int((retry + time.Minute - 1) / time.Minute)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	return f.message(c, fiber.StatusTooManyRequests, "请稍后再试",
		fmt.Sprintf("该受理编号查询失败次数过多，已暂时锁定，请 %d 分钟后再试。", minutes), "/status")
}

// phoneEndsWith compares the last four digits of a stored phone number with
// the entered ones in constant time. A phone with fewer than four digits
// (or none) never matches.
func phoneEndsWith(phone, last4 string) bool {
	d := ingest.PhoneDigits(phone)
	if len(d) < 4 {
		subtle.ConstantTimeCompare([]byte("0000"), []byte(last4))
		return false
	}
	return subtle.ConstantTimeCompare([]byte(d[len(d)-4:]), []byte(last4)) == 1
}

// normalizeReference accepts what customers type for a reference: spaces
// and dashes anywhere, lower case, full-width characters, and the letters
// O, I and L that the reference alphabet leaves out because they look
// like 0 and 1. It returns the canonical TS… form.
func normalizeReference(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '！' && r <= '～': // full-width ASCII
			r -= '！' - '!'
		case r == ' ' || r == '\u3000' || r == '-' || r == '\t':
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	ref := b.String()
	if len(ref) != 12 || !strings.HasPrefix(ref, "TS") {
		return "", false
	}
	tail := []byte(ref[2:])
	for i, ch := range tail {
		switch ch {
		case 'O':
			tail[i] = '0'
		case 'I', 'L':
			tail[i] = '1'
		}
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", rune(tail[i])) {
			return "", false
		}
	}
	return "TS" + string(tail), true
}

// lastFour returns four entered digits (full-width accepted, spaces
// ignored).
func lastFour(s string) (string, bool) {
	s = strings.TrimSpace(s)
	d := ingest.PhoneDigits(s)
	if len(d) != 4 || len([]rune(strings.ReplaceAll(s, " ", ""))) != 4 {
		return "", false
	}
	return d, true
}

// formatTime formats a time for customers in China: 2026年12月17日 18:00.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(shanghai).Format("2006年1月2日 15:04")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

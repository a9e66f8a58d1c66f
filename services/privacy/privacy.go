// Package privacy answers a customer's personal-information rights
// (个人信息保护法 第四十五条 查阅、复制, 第四十七条 删除) and runs the
// retention period: it finds every case of a customer in the search
// index, exports them, and erases them by sending erase actions
// (router.ActionErase) to the routers, which own the cases; it deletes
// the attachment files no case still refers to. The retention job
// (Service.Run) erases the cases finished longer ago than the configured
// period. Every request is audited in the log: who, the selector
// (masked) and how many cases.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Config is the privacy section of the configuration.
type Config struct {
	// RetentionAfterClose is how long a case's personal information is
	// kept after the case was resolved or closed, e.g. 26280h (three
	// years); 0 keeps it (the retention job is off).
	RetentionAfterClose time.Duration `yaml:"retention_after_close"`
	// ScanEvery is how often the retention job looks for cases past the
	// period (default 1h).
	ScanEvery time.Duration `yaml:"scan_every"`
}

// Provision fills the defaults.
func (c *Config) Provision() {
	if c.ScanEvery == 0 {
		c.ScanEvery = time.Hour
	}
}

// Validate checks the durations.
func (c Config) Validate() error {
	var errs []error
	if c.RetentionAfterClose < 0 {
		errs = append(errs, fmt.Errorf("retention_after_close: must be 0 (off) or positive, got %s", c.RetentionAfterClose))
	}
	if c.RetentionAfterClose > 0 && c.RetentionAfterClose < 24*time.Hour {
		errs = append(errs, fmt.Errorf("retention_after_close: at least 24h, got %s (cases are handled and followed up for days)", c.RetentionAfterClose))
	}
	if c.ScanEvery < 0 {
		errs = append(errs, fmt.Errorf("scan_every: must be positive, got %s", c.ScanEvery))
	}
	return errors.Join(errs...)
}

// The kinds of Selector.
const (
	ByPhone     = "phone"
	ByEmail     = "email"
	ByIDNumber  = "id_number"
	ByReference = "reference"
)

// SelectorKinds are the kinds of Selector with their names in Chinese.
var SelectorKinds = map[string]string{ByPhone: "电话号码", ByEmail: "电子邮箱", ByIDNumber: "身份证号码", ByReference: "受理编号"}

// Selector names a customer: by a phone number, an e-mail address, an ID
// card number in their complaints' text, or the reference of one of
// their cases.
type Selector struct {
	Kind  string
	Value string
}

// Masked is the selector as logs and audits show it.
func (s Selector) Masked() string {
	switch s.Kind {
	case ByPhone:
		return ingest.MaskPhone(s.Value)
	case ByEmail:
		return ingest.MaskEmail(s.Value)
	case ByIDNumber:
		return ingest.MaskText(s.Value)
	}
	return s.Value
}

// RequestError is the error of a request that can never be answered as
// it is: its text, in Chinese, says what to correct.
type RequestError string

func (e RequestError) Error() string { return string(e) }

// Check reports what is wrong with the selector, as a RequestError.
func (s Selector) Check() error {
	name, ok := SelectorKinds[s.Kind]
	switch {
	case !ok:
		return RequestError("请指定客户：电话号码（phone）、电子邮箱（email）、身份证号码（id_number）或受理编号（reference）之一")
	case strings.TrimSpace(s.Value) == "":
		return RequestError(name + "不能为空")
	case s.Kind == ByIDNumber && !idNumber(s.Value):
		return RequestError("身份证号码格式不正确")
	}
	return nil
}

// Publisher writes an action to case.actions keyed by its Customer and
// returns once the broker acknowledged it; it may block until ctx ends.
type Publisher func(ctx context.Context, a router.Action) error

// Service finds, exports and erases customers' cases. It is safe for
// concurrent use.
type Service struct {
	index   caseindex.Index
	publish Publisher
	// files is the attachment store; nil: the files are not here.
	files   *attachment.Store
	cfg     Config
	now     func() time.Time
	logger  *zap.Logger
	erasing *prometheus.CounterVec
}

// Deps is what a Service is made of.
type Deps struct {
	Index   caseindex.Index
	Publish Publisher
	// Files is the attachment store; nil when this process has none.
	Files  *attachment.Store
	Config Config
	// Now is the clock; nil: time.Now.
	Now      func() time.Time
	Logger   *zap.Logger
	Registry prometheus.Registerer // nil: no metrics
}

// New returns the service and registers its metric.
func New(d Deps) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{index: d.Index, publish: d.Publish, files: d.Files, cfg: d.Config, now: now, logger: d.Logger,
		erasing: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tousu_privacy_erasures_total",
			Help: "Cases whose personal information tousu asked the routers to erase, by reason: request or retention."}, []string{"reason"})}
	if d.Registry != nil {
		d.Registry.MustRegister(s.erasing)
	}
	return s
}

// Find returns every case the index holds of the customer sel names,
// oldest first, without the erased ones. By reference it is the cases of
// that case's customer (by phone, else by e-mail); by ID number the
// cases whose text holds it.
func (s *Service) Find(ctx context.Context, sel Selector) ([]router.Case, error) {
	if err := sel.Check(); err != nil {
		return nil, err
	}
	switch sel.Kind {
	case ByPhone, ByEmail:
		return s.all(ctx, caseindex.Query{Filters: map[string]string{sel.Kind: strings.TrimSpace(sel.Value)}})
	case ByIDNumber:
		id := idDigits(strings.TrimSpace(sel.Value))
		found, err := s.all(ctx, caseindex.Query{Text: `"` + id + `"`})
		return slices.DeleteFunc(found, func(c router.Case) bool { return !holds(c, id) }), err
	}
	refs, err := s.all(ctx, caseindex.Query{Filters: map[string]string{"reference": strings.TrimSpace(sel.Value)}})
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	var out []router.Case
	for _, c := range refs {
		var more []router.Case
		switch {
		case c.Customer.Phone != "":
			more, err = s.all(ctx, caseindex.Query{Filters: map[string]string{ByPhone: c.Customer.Phone}})
		case c.Customer.Email != "":
			more, err = s.all(ctx, caseindex.Query{Filters: map[string]string{ByEmail: c.Customer.Email}})
		default:
			more = []router.Case{c}
		}
		if err != nil {
			return nil, err
		}
		for _, m := range more {
			if !slices.ContainsFunc(out, func(o router.Case) bool { return o.ID == m.ID }) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// holds reports whether a case's texts hold the ID card number id, in
// whatever way it was written (spaces, full-width digits).
func holds(c router.Case, id string) bool {
	texts := []string{c.Subject, c.Description}
	for _, ct := range c.Contacts {
		texts = append(texts, ct.Subject, ct.Text)
	}
	for _, e := range c.History {
		texts = append(texts, e.Note)
	}
	for _, t := range texts {
		if strings.Contains(idDigits(t), id) {
			return true
		}
	}
	return false
}

// idNumber reports whether s is an ID card number, 18 characters or the
// old 15 digits, however spaced.
func idNumber(s string) bool {
	d := idDigits(s)
	return (len(d) == 18 || len(d) == 15) && ingest.RedactText(d) == ingest.RedactedNumber
}

// idDigits is s with its full-width digits and X made ASCII and the
// spaces and dashes between them dropped.
func idDigits(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '０' && r <= '９':
			return '0' + r - '０'
		case r == 'x' || r == 'Ｘ' || r == 'ｘ':
			return 'X'
		case r == ' ' || r == '-' || r == '\u3000':
			return -1
		}
		return r
	}, s)
}

// all pages through a search, oldest first, leaving out erased cases.
func (s *Service) all(ctx context.Context, q caseindex.Query) ([]router.Case, error) {
	q.Sort, q.Limit = caseindex.SortOldest, caseindex.MaxLimit
	var out []router.Case
	for {
		res, err := s.index.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("search the index: %w", err)
		}
		for _, c := range res.Hits {
			if c.Erased == nil {
				out = append(out, c)
			}
		}
		q.Offset += len(res.Hits)
		if len(res.Hits) == 0 || q.Offset >= res.Total {
			return out, nil
		}
	}
}

// Export is everything tousu holds about a customer (查阅、复制): their
// cases with history, contacts and the list of their attachments.
type Export struct {
	// Selector is what named the customer, masked.
	Selector    string         `json:"selector"`
	GeneratedAt time.Time      `json:"generated_at"`
	Cases       []router.Case  `json:"cases"`
	Attachments []ExportedFile `json:"attachments"`
	Notice      string         `json:"notice"`
}

// ExportedFile is an attachment of an exported case.
type ExportedFile struct {
	Case string `json:"case"`
	ingest.Attachment
}

// exportNotice says what an export holds and what it does not.
const exportNotice = "本导出包含系统中与该客户有关的全部工单（含处理记录、后续来信和附件清单）。附件文件可在坐席控制台按工单下载。" +
	"投诉原始消息在消息队列中最多保存 7 天、死信最多 30 天，到期自动删除，不在导出范围内。"

// Export finds the customer's cases (Find) and returns them, audited:
// who asked, the selector (masked) and how many cases.
func (s *Service) Export(ctx context.Context, sel Selector, who string) (Export, error) {
	cases, err := s.Find(ctx, sel)
	if err != nil {
		return Export{}, err
	}
	ex := Export{Selector: sel.Kind + ":" + sel.Masked(), GeneratedAt: s.now().UTC(), Cases: cases, Attachments: []ExportedFile{}, Notice: exportNotice}
	if ex.Cases == nil {
		ex.Cases = []router.Case{}
	}
	for _, c := range cases {
		for _, a := range c.Attachments {
			ex.Attachments = append(ex.Attachments, ExportedFile{Case: c.ID, Attachment: a})
		}
	}
	s.logger.Info("personal information exported", zap.String("by", who), zap.String("selector", sel.Kind),
		zap.String("value", sel.Masked()), zap.Int("cases", len(cases)))
	return ex, nil
}

// Erased is what an erasure did.
type Erased struct {
	// Cases are the ids of the cases whose erase actions the broker took;
	// the routers erase them within seconds.
	Cases []string `json:"cases"`
	// Files counts the attachment files deleted: those no other case
	// refers to.
	Files int `json:"files_deleted"`
}

// EraseCustomer erases every case of the customer sel names (Find), on
// their request, with note saying why (required), audited like Export.
func (s *Service) EraseCustomer(ctx context.Context, sel Selector, note, who string) (Erased, error) {
	if strings.TrimSpace(note) == "" {
		return Erased{}, RequestError("请填写删除原因（如客户申请的日期和方式）")
	}
	cases, err := s.Find(ctx, sel)
	if err != nil {
		return Erased{}, err
	}
	out, err := s.Erase(ctx, cases, router.ErasureRequest, who, note)
	s.logger.Info("personal information erased on request", zap.String("by", who), zap.String("selector", sel.Kind),
		zap.String("value", sel.Masked()), zap.String("note", ingest.MaskText(note)), zap.Int("cases", len(out.Cases)),
		zap.Int("files", out.Files))
	return out, err
}

// EraseAction is the erase action of case c for reason by actor at at,
// with a note saying why (the request's date, its ticket):
// its id names the case only, so that a case is erased once however
// often it is asked, and it carries the case already erased for a
// router that no longer holds it (router.Action.Snapshot).
func EraseAction(c router.Case, reason, actor, note string, at time.Time) router.Action {
	snap := router.Erase(c, router.Erasure{At: at, Reason: reason, By: actor})
	return router.Action{V: router.ActionVersion, ID: "erase/" + c.ID, Case: c.ID, Customer: c.Customer.Key, Kind: router.ActionErase,
		Actor: actor, At: at, Reason: reason, Note: note, Snapshot: &snap}
}

// Erase sends the erase action of every case (EraseAction) and then
// deletes the attachment files only those cases refer to. It stops at
// the first action the broker does not take.
func (s *Service) Erase(ctx context.Context, cases []router.Case, reason, actor, note string) (Erased, error) {
	out := Erased{Cases: []string{}}
	at := s.now().UTC()
	for _, c := range cases {
		if err := s.publish(ctx, EraseAction(c, reason, actor, note, at)); err != nil {
			return out, fmt.Errorf("send the erase action of case %s: %w", c.ID, err)
		}
		out.Cases = append(out.Cases, c.ID)
		s.erasing.WithLabelValues(reason).Inc()
	}
	n, err := s.deleteFiles(ctx, cases)
	out.Files = n
	return out, err
}

// deleteFiles deletes the files of the erased cases that no other case
// refers to: every case the index finds with the file's hash is one of
// them (or erased already).
func (s *Service) deleteFiles(ctx context.Context, erased []router.Case) (int, error) {
	if s.files == nil {
		return 0, nil
	}
	ids := map[string]bool{}
	var sums []string
	for _, c := range erased {
		ids[c.ID] = true
		for _, a := range c.Attachments {
			if a.SHA256 != "" && !slices.Contains(sums, a.SHA256) {
				sums = append(sums, a.SHA256)
			}
		}
	}
	n := 0
	for _, sum := range sums {
		users, err := s.all(ctx, caseindex.Query{Filters: map[string]string{"attachment": sum}})
		if err != nil {
			return n, err
		}
		if slices.ContainsFunc(users, func(c router.Case) bool { return !ids[c.ID] }) {
			continue
		}
		deleted, err := s.files.Delete(sum)
		if err != nil {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

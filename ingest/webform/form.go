// Package webform is the web channel of tousu: a server-rendered complaint
// form in Simplified Chinese that works on a phone without JavaScript, the
// receipt it answers with, a status page where customers look up their
// case, and the same submission as JSON at POST /api/v1/complaints.
//
// Every accepted submission becomes an ingest.Envelope handed to the
// ingest.Publish function; the customer sees a reference (受理编号) only
// after Publish returned nil, and a clear 503 otherwise. The HTML form is
// protected by a CSRF token (double submit of a cookie and a form field,
// and a post from another site's page is refused), a honeypot field and a
// per-IP rate limit; the JSON API by the authentication middleware the
// caller supplies.
//
// The form and the API read their request bodies themselves, within
// Config.BodyLimit and Config.MaxJSONBytes (package bodylimit), so the
// server must not buffer them first: mount them on an app that streams
// request bodies. The attachment goes from the request straight to the
// attachment store, after the CSRF check.
//
// CSRF tokens carry their own expiry and an HMAC-SHA256 signature keyed
// with Config.CSRFSecret, so nothing about them is stored: any replica
// configured with the same secret accepts a form rendered by another, and
// a load balancer needs no sticky sessions. Without a secret each process
// signs with a random key of its own, and a form validates only on the
// replica that rendered it.
//
// Envelope ids are deterministic, so a repeated submission creates no
// second case downstream: the form derives its id from a nonce rendered
// into each form and bound to its CSRF token (sending the same rendered
// form twice yields the same reference, and other nonces are refused),
// the API from the caller's account and the Idempotency-Key header.
// Reference numbers are derived from envelope ids under the
// installation's key (Shared.References), so nobody can compute one.
//
// Rate limits (Config.RateLimit per Config.RateWindow and client IP, one
// budget for submissions and one for status look-ups and survey answers)
// are counted in Shared.Rates, so they hold across the replicas behind a
// load balancer; without Shared.Rates, or while they cannot be written,
// each replica counts alone. What must hold across replicas, the lock of
// a reference after failed status look-ups and the API's idempotency
// keys, is kept in the Shared.Ledger.
package webform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/ingest/bodylimit"
	"github.com/tousu/tousu/internal/keypath"
)

//go:embed templates/*.html
var templateFS embed.FS

// counterJS is the form's script: it counts the characters of the fields
// with a limit as the customer types. The form works without it (the
// server checks the limits); the page's CSP admits it by its hash.
//
//go:embed templates/counter.js
var counterJS string

// pageCSP is the Content-Security-Policy of every page.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(counterJS))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

// Form fields. The honeypot is a text field hidden from people; only
// robots fill it in.
const (
	fieldCSRF       = "_csrf"
	fieldNonce      = "nonce"
	fieldHoneypot   = "website"
	fieldAttachment = "attachment"
	fieldConsent    = "consent" // its value is the notice's version
	csrfContextKey  = "tousu.webform.csrf"
	csrfCookieName  = "tousu_csrf"
	maxEchoBytes    = 64 << 10 // longest field value echoed back into a re-rendered form
)

// The routes whose handlers read their own request bodies (relative to the
// router Mount is given): the server must leave their bodies unread.
const (
	PathSubmit = "/complaints"
	PathAPI    = "/api/v1/complaints"
)

// Customer-facing messages shared by several pages.
const (
	msgBusy       = "系统繁忙，请稍后再试。您的投诉尚未提交成功，请稍后重新提交。"
	msgFixFields  = "请修改下面标出的项目后重新提交。"
	msgReselect   = "如有附件，请重新选择。"
	msgExpired    = "页面已过期或无法验证来源，请返回投诉页面刷新后重新填写提交。"
	msgTooMany    = "提交过于频繁，请稍后再试。"
	msgRetype     = "页面已过期，为保护您的信息安全需要重新确认。您填写的内容都已保留，请核对后再次点击“提交投诉”。"
	msgOtherSite  = "这份投诉是从其他网站的页面提交过来的，我们没有受理。如果内容确实是您本人填写的，请核对后点击“提交投诉”。"
	msgWait       = "提交过于频繁，这次没有受理。您填写的内容都已保留，请稍等片刻后再次点击“提交投诉”。"
	msgFileAgain  = "附件无法保留，请重新选择。"
	msgNotAccept  = "您的提交未能受理，请返回投诉页面刷新后重新填写。"
	msgAttachType = "不支持该附件类型，请上传图片（JPG、PNG、GIF、WebP、HEIC）、PDF、文本或 Office 文档。"
	msgAttachNone = "附件是空文件，请重新选择。"
)

// Form serves the complaint form, its receipt, the status page and the
// JSON API. It is safe for concurrent use; create it with New.
type Form struct {
	cfg     Config
	shared  Shared
	publish ingest.Publish
	store   *attachment.Store
	log     *zap.Logger
	pages   map[string]*template.Template
	m       metrics

	org     orgView
	logo    *logo    // nil without one
	privacy []string // the privacy notice's paragraphs

	tokens      *csrfTokens
	submitLimit fiber.Handler
	statusLimit fiber.Handler
}

// New returns a Form that publishes through publish and keeps attachments
// in store, sharing with the other replicas what shared holds. A nil
// publish makes a Form that only serves the status page (a console process
// without the gateway): call MountStatus, not Mount; it needs no
// shared.References. A nil store turns attachments off (the form shows no
// file field and ignores uploaded files). Metrics are registered with reg
// unless it is nil; registering a second Form with the same registry
// fails. logger should carry a component field. cfg must be provisioned
// (Config.Provision) and its CSRFSecret at hand.
func New(cfg Config, shared Shared, publish ingest.Publish, store *attachment.Store, logger *zap.Logger, reg prometheus.Registerer) (*Form, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webform: %w", err)
	}
	if !cfg.CSRFSecret.Known() {
		return nil, errors.New("webform: csrf_secret: required, resolved (the tousu configuration derives one from the server secret)")
	}
	if err := shared.validate(publish != nil); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	logo, privacy, err := cfg.Organisation.load(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("webform: %w", keypath.Under("organisation", err))
	}
	o := cfg.Organisation
	org := orgView{Name: o.Name, Hotline: o.Hotline, Tel: strings.Map(telRune, o.Hotline), Logo: logo != nil, Version: o.Privacy.Version}
	f := &Form{cfg: cfg, shared: shared, publish: publish, store: store, log: logger, pages: pages, org: org, logo: logo, privacy: privacy}
	if f.m, err = newMetrics(reg); err != nil {
		return nil, err
	}
	f.tokens = newCSRFTokens([]byte(cfg.CSRFSecret.Reveal()), cfg.CSRFExpiration)
	f.submitLimit = f.newLimiter("submit", func(c *fiber.Ctx) error {
		f.m.submissions.WithLabelValues(string(ingest.ChannelWebForm), "rate_limited").Inc()
		p, err := f.readPosted(c, false)
		if err != nil {
			return f.message(c, fiber.StatusTooManyRequests, "请稍后再试", msgTooMany, "/")
		}
		return f.retype(c, fiber.StatusTooManyRequests, p, msgWait)
	})
	f.statusLimit = f.newLimiter("status", func(c *fiber.Ctx) error {
		f.m.lookups.WithLabelValues("rate_limited").Inc()
		return f.message(c, fiber.StatusTooManyRequests, "请稍后再试", "查询过于频繁，请稍后再试。", "/status")
	})
	return f, nil
}

// Mount registers on app:
//
//	GET  /                   the complaint form
//	POST /complaints         form submission; answers with the receipt page
//	POST /api/v1/complaints  the JSON API, behind apiAuth
//	GET  /privacy            the privacy notice
//	GET  /logo               the organisation's logo, when it has one
//
// The two posts read their bodies themselves (PathSubmit, PathAPI).
//
// apiAuth authenticates API callers (BearerAuth builds one); it must end
// the request itself when the caller is not allowed. A nil apiAuth makes
// the API refuse every request with 401. Mount and MountStatus are meant
// for the same router: pages link to each other relative to it.
func (f *Form) Mount(app fiber.Router, apiAuth fiber.Handler) {
	if f.publish == nil {
		panic("webform: Mount on a Form without a publish function")
	}
	if apiAuth == nil {
		f.log.Warn("no authentication for the JSON API: POST /api/v1/complaints refuses every request")
		apiAuth = func(c *fiber.Ctx) error {
			return unauthorized(c)
		}
	}
	app.Get("/", f.csrf, f.showForm)
	f.mountOrganisation(app)
	app.Get(PathSubmit, f.submitted)
	app.Post(PathSubmit, rejectEncodedBody, f.submitLimit, f.submit)
	app.Post(PathAPI, apiAuth, f.readJSON, f.apiSubmit)
}

// readJSON reads the API's request body within MaxJSONBytes for apiSubmit,
// answering 413 in the API's shape, without reading further, when it is
// longer.
func (f *Form) readJSON(c *fiber.Ctx) error {
	body, err := bodylimit.Read(c, f.cfg.MaxJSONBytes)
	switch {
	case errors.Is(err, bodylimit.ErrTooLarge):
		f.m.submissions.WithLabelValues(string(ingest.ChannelAPI), "too_large").Inc()
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(apiError{Error: fmt.Sprintf("请求内容过大，最多 %d 字节", f.cfg.MaxJSONBytes)})
	case err != nil:
		f.m.submissions.WithLabelValues(string(ingest.ChannelAPI), "bad_request").Inc()
		return c.Status(fiber.StatusBadRequest).JSON(apiError{Error: "请求内容读取失败"})
	}
	c.Request().SetBody(body)
	return c.Next()
}

// pageData is what every template gets; each page uses some of it.
type pageData struct {
	Org     orgView // set by render
	Title   string
	Base    string // mount prefix, without a trailing slash
	CSRF    string
	Summary string // a message above the form

	// The complaint form.
	Nonce       string
	Fields      []fieldView
	Attachments bool
	Attachment  string // error under the attachment field
	MaxAttachMB string
	CounterJS   template.JS

	// The receipt.
	Reference string
	EmailOnly bool

	// The status page; EmailProgress says e-mail-only customers hear of
	// progress by e-mail.
	Status        *statusView
	EmailProgress bool

	// The message page; Thanks marks a confirmation rather than a
	// refusal.
	Message   string
	Back      string
	BackLabel string // the link's text; "返回" when empty
	Thanks    bool
	Info      bool // an explanation rather than a refusal

	// The survey page.
	Survey *surveyView

	// The form's consent checkbox: ticked, or the message under it.
	Consent      bool
	ConsentError string

	// The privacy page: the notice's paragraphs.
	Privacy []string
}

// orgView is the organisation as every page shows it.
type orgView struct {
	Name, Hotline string
	Tel           string // the hotline for a tel: link
	Logo          bool
	Version       string // of the privacy notice
}

// telRune keeps the characters of a tel: link.
func telRune(r rune) rune {
	if r == '+' || ('0' <= r && r <= '9') {
		return r
	}
	return -1
}

// fieldView is one input of the complaint form.
type fieldView struct {
	Name, Label, Type, Autocomplete, InputMode, Hint string
	Value, Error                                     string
	Required, Textarea                               bool
	// MaxChars is the longest value the field takes, in characters (字),
	// as customers count: the form and the API check it, and the page
	// states it under the field with a live counter. Each stays within
	// the byte limit of package ingest for the field even in four-byte
	// characters, except phone and e-mail, whose values are ASCII.
	MaxChars int
	// Counter shows the count of characters under the field as the
	// customer types.
	Counter bool
}

// formFields lists the inputs of the complaint form in order.
var formFields = []fieldView{
	{Name: "name", Label: "姓名", Type: "text", Autocomplete: "name", MaxChars: 50, Counter: true},
	{Name: "phone", Label: "手机号码", Type: "tel", Autocomplete: "tel", InputMode: "tel", MaxChars: ingest.MaxPhoneBytes, Hint: "11 位手机号码，或带区号的固定电话（如 010-62345678）。与电子邮箱至少填写一项；用号码后四位可以查询处理进度。"},
	{Name: "email", Label: "电子邮箱", Type: "email", Autocomplete: "email", InputMode: "email", MaxChars: ingest.MaxEmailBytes},
	{Name: "subject", Label: "主题", Type: "text", MaxChars: 100, Counter: true, Hint: "一句话概括您的问题，例如：手机信号差"},
	{Name: "description", Label: "投诉内容", Textarea: true, Required: true, MaxChars: 5000, Counter: true, Hint: "请写明发生了什么、时间地点、涉及的订单号或金额，以及您的诉求。"},
}

// countChars counts the characters of a value as the customer sees them:
// a line break sent as CR LF is one.
func countChars(s string) int {
	return utf8.RuneCountInString(s) - strings.Count(s, "\r\n")
}

// checkFields returns what is wrong with env, at most one problem per
// field: a value longer than its field's MaxChars, else what the intake
// rule finds (which also completes env's phone number).
func checkFields(intake ingest.Config, env *ingest.Envelope) []ingest.FieldError {
	values := map[string]string{"name": env.Name, "phone": env.Phone, "email": env.Email, "subject": env.Subject, "description": env.Description}
	var errs []ingest.FieldError
	long := make(map[string]bool)
	for _, fv := range formFields {
		if n := countChars(values[fv.Name]); n > fv.MaxChars {
			long[fv.Name] = true
			errs = append(errs, ingest.FieldError{Field: fv.Name, Message: fmt.Sprintf("内容过长：最多 %d 字，现有 %d 字，请删减 %d 字", fv.MaxChars, n, n-fv.MaxChars)})
		}
	}
	for _, fe := range intake.Check(env) {
		if !long[fe.Field] {
			errs = append(errs, fe)
		}
	}
	return errs
}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template)
	for _, name := range []string{"form", "receipt", "status", "message", "survey", "privacy"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/surveyform.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webform: parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes a page with the given status and safe headers.
func (f *Form) render(c *fiber.Ctx, status int, page string, d pageData) error {
	if d.CSRF == "" {
		d.CSRF, _ = c.Locals(csrfContextKey).(string)
	}
	d.Org = f.org
	var buf bytes.Buffer
	if err := f.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		f.log.Error("render page", zap.String("page", page), zap.Error(err))
		return c.Status(fiber.StatusInternalServerError).SendString("页面生成失败，请稍后再试。")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderContentSecurityPolicy, pageCSP)
	return c.Status(status).Send(buf.Bytes())
}

// message renders a page that only says something, with a link back to
// the page at back (relative to the mount prefix).
func (f *Form) message(c *fiber.Ctx, status int, title, msg, back string) error {
	base := mountBase(c)
	return f.render(c, status, "message", pageData{Title: title, Base: base, Message: msg, Back: base + back})
}

// ErrorPage renders the page of an error on the public site, for the
// server's error handler (httpapi.ErrorPage): what happened in words a
// customer understands, and a link to the form. It expects the Form
// mounted at the root of the site.
func (f *Form) ErrorPage(c *fiber.Ctx, status int) error {
	title, msg := errorMessage(status)
	return f.render(c, status, "message", pageData{Title: title, Message: msg, Back: "/", BackLabel: "返回投诉页面"})
}

// errorMessage returns the title and the message of the error page of an
// HTTP status.
func errorMessage(status int) (title, msg string) {
	switch {
	case status == fiber.StatusNotFound:
		return "页面不存在", "您要打开的页面不存在，可能是网址输入有误，或链接已经失效。请检查网址，或返回投诉页面。"
	case status == fiber.StatusMethodNotAllowed:
		return "无法这样打开此页面", "这个网址不能这样打开。如需投诉，请返回投诉页面填写提交；已经提交的投诉，可在“进度查询”中凭受理编号查看。"
	case status == fiber.StatusRequestEntityTooLarge:
		return "内容过大", "提交的内容过大，未能受理。请缩短内容或压缩附件后重新提交。"
	case status == fiber.StatusTooManyRequests:
		return "请稍后再试", msgTooMany
	case status < fiber.StatusInternalServerError:
		return "无法处理该请求", "您的请求未能处理，请返回投诉页面重试。"
	default:
		return "系统出错了", "抱歉，系统暂时出了问题，请稍后再试。如果您刚才在提交投诉而没有看到受理编号，说明投诉没有提交成功，请稍后重新提交。"
	}
}

// mountBase returns the prefix the handlers are mounted under, without a
// trailing slash: the route's path without the route's own last part.
func mountBase(c *fiber.Ctx) string {
	p := c.Route().Path
	for _, suffix := range []string{"/api/v1/complaints", "/complaints", "/status", "/survey", PathPrivacy, "/"} {
		if strings.HasSuffix(p, suffix) {
			return strings.TrimSuffix(p, suffix)
		}
	}
	return strings.TrimSuffix(p, "/")
}

func (f *Form) csrfFailed(c *fiber.Ctx, err error) error {
	f.log.Info("csrf check failed", zap.String("path", c.Path()), zap.String("remote_addr", c.IP()), zap.Error(err))
	back := "/"
	if strings.HasSuffix(c.Path(), "/status") {
		back = "/status"
		f.m.lookups.WithLabelValues("csrf").Inc()
	} else {
		f.m.submissions.WithLabelValues(string(ingest.ChannelWebForm), "csrf").Inc()
	}
	// Expire the cookie, so that a reload renders a form with a token this
	// replica accepts.
	c.Cookie(&fiber.Cookie{Name: csrfCookieName, Path: "/", Expires: time.Unix(1, 0), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	return f.message(c, fiber.StatusForbidden, "页面已过期", msgExpired, back)
}

// csrfRetype answers a form submission checkCSRF refused: nothing is
// published, and the form comes back with what the customer typed.
func (f *Form) csrfRetype(c *fiber.Ctx, p posted, err error) error {
	f.log.Info("csrf check failed", zap.String("path", c.Path()), zap.String("remote_addr", c.IP()), zap.Error(err))
	f.m.submissions.WithLabelValues(string(ingest.ChannelWebForm), "csrf").Inc()
	summary := msgRetype
	if errors.Is(err, errCrossSite) {
		summary = msgOtherSite
	}
	return f.retype(c, fiber.StatusForbidden, p, summary)
}

// retype renders the form again with everything the customer typed in p
// (but the file, which summary then asks to choose again) for a
// submission that was not taken, so that they only need to send it again.
// The form keeps the post's token and nonce while they are good, so that a
// repeat still makes one complaint; otherwise it gets new ones.
func (f *Form) retype(c *fiber.Ctx, status int, p posted, summary string) error {
	token, nonce := p.values[fieldCSRF], p.values[fieldNonce]
	if f.checkCSRF(c, token) != nil || !f.tokens.validNonce(token, nonce) {
		token = f.tokens.mint()
		f.issue(c, token)
		nonce = f.tokens.nonce(token)
	}
	page := f.formPage(c, nonce, p.values, nil)
	page.Summary = summary
	if p.hadFile {
		page.Summary += msgFileAgain
	}
	if status == fiber.StatusTooManyRequests {
		c.Set(fiber.HeaderRetryAfter, f.retryAfter(c))
	}
	return f.render(c, status, "form", page)
}

// submitted answers GET /complaints, the receipt's address opened again:
// a submission cannot be repeated from there.
func (f *Form) submitted(c *fiber.Ctx) error {
	base := mountBase(c)
	return f.render(c, fiber.StatusOK, "message", pageData{Title: "请从投诉页面提交", Base: base, Info: true,
		Message: "这个网址只用于提交投诉，不能直接打开。如果您刚提交过投诉，受理编号显示在提交后的页面上，可凭编号在“进度查询”中查看处理情况；如需投诉，请返回投诉页面填写。",
		Back:    base + "/", BackLabel: "返回投诉页面"})
}

// rejectEncodedBody refuses compressed request bodies: browsers never send
// them, and decompressing would defeat the size limits.
func rejectEncodedBody(c *fiber.Ctx) error {
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return c.Status(fiber.StatusUnsupportedMediaType).SendString("不支持压缩的请求内容。")
	}
	return c.Next()
}

func (f *Form) formPage(c *fiber.Ctx, nonce string, values map[string]string, errs map[string]string) pageData {
	fields := make([]fieldView, len(formFields))
	for i, fv := range formFields {
		fv.Value = echo(values[fv.Name])
		fv.Error = errs[fv.Name]
		fields[i] = fv
	}
	return pageData{
		Title:        "在线投诉",
		Base:         mountBase(c),
		Nonce:        nonce,
		Fields:       fields,
		Attachments:  f.store != nil,
		Attachment:   errs[fieldAttachment],
		MaxAttachMB:  formatMB(f.cfg.MaxAttachmentBytes),
		CounterJS:    template.JS(counterJS),
		Consent:      values[fieldConsent] == f.org.Version,
		ConsentError: errs[fieldConsent],
	}
}

func (f *Form) showForm(c *fiber.Ctx) error {
	token, _ := c.Locals(csrfContextKey).(string)
	return f.render(c, fiber.StatusOK, "form", f.formPage(c, f.tokens.nonce(token), nil, nil))
}

// submit handles POST /complaints.
func (f *Form) submit(c *fiber.Ctx) error {
	channel := string(ingest.ChannelWebForm)
	p, err := f.readPosted(c, true)
	var refused csrfError
	switch {
	case errors.As(err, &refused):
		return f.csrfRetype(c, p, refused.err)
	case errors.Is(err, bodylimit.ErrTooLarge):
		f.m.submissions.WithLabelValues(channel, "too_large").Inc()
		return f.message(c, fiber.StatusRequestEntityTooLarge, "内容过大", "提交的内容过大："+f.tooLargeMessage(), "/")
	case err != nil:
		f.m.submissions.WithLabelValues(channel, "bad_request").Inc()
		f.log.Info("unreadable form submission", zap.String("remote_addr", c.IP()), zap.Error(err))
		return f.message(c, fiber.StatusBadRequest, "未能受理", msgNotAccept, "/")
	}
	values := p.values
	if !p.csrfChecked {
		if err := f.checkCSRF(c, values[fieldCSRF]); err != nil {
			return f.csrfRetype(c, p, err)
		}
	}
	if values[fieldHoneypot] != "" {
		f.m.submissions.WithLabelValues(channel, "honeypot").Inc()
		f.log.Info("honeypot field filled; nothing published", zap.String("remote_addr", c.IP()))
		return f.message(c, fiber.StatusBadRequest, "未能受理", msgNotAccept, "/")
	}
	nonce := values[fieldNonce]
	if !f.tokens.validNonce(values[fieldCSRF], nonce) {
		f.m.submissions.WithLabelValues(channel, "bad_request").Inc()
		return f.retype(c, fiber.StatusBadRequest, p, msgRetype)
	}

	env, errs := f.envelopeOf(values)
	status := fiber.StatusUnprocessableEntity
	if p.fileError != "" {
		errs[fieldAttachment] = p.fileError
		status = p.fileStatus
	}
	if len(errs) > 0 {
		return f.reject(c, status, nonce, values, errs, p.hadFile)
	}
	if p.file != nil {
		env.Attachments = []ingest.Attachment{*p.file}
	}

	f.fill(&env, c, ingest.ChannelWebForm, ingest.NewID(ingest.ChannelWebForm, "", nonce))
	ingest.SetConsent(&env, ingest.Consent{Version: f.org.Version, At: env.ReceivedAt})
	if err := f.doPublish(c, env); err != nil {
		c.Set(fiber.HeaderRetryAfter, "10")
		page := f.formPage(c, nonce, values, nil)
		page.Summary = msgBusy
		if p.hadFile {
			page.Summary += msgReselect
		}
		return f.render(c, fiber.StatusServiceUnavailable, "form", page)
	}
	return f.render(c, fiber.StatusOK, "receipt", pageData{
		Title:         "投诉已受理",
		Base:          mountBase(c),
		Reference:     env.Reference,
		EmailOnly:     env.Phone == "",
		EmailProgress: f.cfg.EmailProgress,
	})
}

// envelopeOf returns the complaint the form's fields describe and the
// message for each invalid field; the consent checkbox must be ticked for
// the notice's current version.
func (f *Form) envelopeOf(values map[string]string) (ingest.Envelope, map[string]string) {
	env := ingest.Envelope{
		Name:        strings.TrimSpace(values["name"]),
		Phone:       strings.TrimSpace(values["phone"]),
		Email:       strings.TrimSpace(values["email"]),
		Subject:     strings.TrimSpace(values["subject"]),
		Description: strings.TrimSpace(values["description"]),
	}
	errs := make(map[string]string)
	for _, fe := range checkFields(f.cfg.Intake, &env) {
		errs[fe.Field] = fe.Message
	}
	if values[fieldConsent] != f.org.Version {
		errs[fieldConsent] = consentMissing
	}
	return env, errs
}

// reject re-renders the form with the customer's values and a message
// under each bad field; hadFile asks to choose the attachment again.
func (f *Form) reject(c *fiber.Ctx, status int, nonce string, values, errs map[string]string, hadFile bool) error {
	outcome := "invalid"
	if status == fiber.StatusRequestEntityTooLarge {
		outcome = "too_large"
	}
	f.m.submissions.WithLabelValues(string(ingest.ChannelWebForm), outcome).Inc()
	page := f.formPage(c, nonce, values, errs)
	page.Summary = msgFixFields
	if _, ok := errs[fieldAttachment]; ok || hadFile {
		page.Summary += msgReselect
	}
	return f.render(c, status, "form", page)
}

// posted is what a form submission carried.
type posted struct {
	values      map[string]string // first value of each field
	csrfChecked bool              // checkCSRF passed (before the attachment)
	dropFile    bool              // read past the attachment, keeping nothing
	hadFile     bool              // a file was chosen
	file        *ingest.Attachment
	fileError   string // the message under the attachment field
	fileStatus  int    // and the status that goes with it
}

// csrfError is a submission refused by checkCSRF.
type csrfError struct{ err error }

func (e csrfError) Error() string { return e.err.Error() }

// maxFieldBytes bounds the text fields of a submission together.
const maxFieldBytes = multipartOverhead

// readPosted reads a submission, URL-encoded (text only, within
// maxFieldBytes) or multipart (within Config.BodyLimit). The attachment is
// streamed into the store once the fields before it passed checkCSRF and
// look valid; otherwise it is read and dropped. When the attachment is over
// its limit or the post is refused, reading stops there (but for
// bodylimit.Drain). Without keepFile every file is dropped unread by the
// store and the CSRF check is left to the caller. Errors are a csrfError,
// bodylimit.ErrTooLarge or a malformed body.
func (f *Form) readPosted(c *fiber.Ctx, keepFile bool) (posted, error) {
	p := posted{values: make(map[string]string), dropFile: !keepFile}
	mediaType, params, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if mediaType != fiber.MIMEMultipartForm {
		body, err := bodylimit.Read(c, maxFieldBytes)
		if err != nil {
			return p, err
		}
		q, err := url.ParseQuery(string(body))
		for k, v := range q {
			p.values[k] = v[0]
		}
		return p, err
	}
	r, err := bodylimit.Reader(c, int64(f.cfg.BodyLimit()))
	if err != nil {
		return p, err
	}
	mr := multipart.NewReader(r, params["boundary"])
	text := int64(0)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return p, err
		}
		name := part.FormName()
		if name == fieldAttachment || part.FileName() != "" {
			if done, err := f.readFile(c, part, &p); err != nil || done {
				bodylimit.Drain(c, r)
				return p, err
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes-text+1))
		if err != nil {
			return p, err
		}
		if text += int64(len(b)); text > maxFieldBytes {
			return p, bodylimit.ErrTooLarge
		}
		if _, seen := p.values[name]; !seen {
			p.values[name] = string(b)
		}
	}
}

// readFile handles a file part of a submission: the first file of the
// attachment field goes to the store, anything else is dropped. done
// means the rest of the body stays unread (the attachment is too large).
func (f *Form) readFile(c *fiber.Ctx, part *multipart.Part, p *posted) (done bool, err error) {
	if f.store == nil || p.hadFile || part.FormName() != fieldAttachment {
		_, err := io.Copy(io.Discard, part)
		return false, err
	}
	if p.dropFile {
		p.hadFile = part.FileName() != ""
		_, err := io.Copy(io.Discard, part)
		return false, err
	}
	if err := f.checkCSRF(c, p.values[fieldCSRF]); err != nil {
		p.hadFile = part.FileName() != ""
		return true, csrfError{err}
	}
	p.csrfChecked = true
	_, errs := f.envelopeOf(p.values)
	if p.values[fieldHoneypot] != "" || !f.tokens.validNonce(p.values[fieldCSRF], p.values[fieldNonce]) || len(errs) > 0 {
		p.hadFile = true // refused anyway: keep nothing
		_, err := io.Copy(io.Discard, part)
		return false, err
	}
	att, status, msg := f.storeAttachment(part, part.FileName())
	switch {
	case msg == msgAttachNone && part.FileName() == "":
		return false, nil // the file input was left empty
	case msg != "":
		p.hadFile, p.fileError, p.fileStatus = true, msg, status
		return status == fiber.StatusRequestEntityTooLarge, nil
	}
	p.hadFile, p.file = true, &att
	return false, nil
}

// storeAttachment streams an uploaded file into the store. On failure it
// returns the HTTP status and the message to show under the field.
func (f *Form) storeAttachment(r io.Reader, name string) (ingest.Attachment, int, string) {
	att, err := f.store.Put(r, name, f.cfg.MaxAttachmentBytes)
	switch {
	case err == nil:
		return att, 0, ""
	case errors.Is(err, attachment.ErrTooLarge), errors.Is(err, bodylimit.ErrTooLarge):
		return att, fiber.StatusRequestEntityTooLarge, f.tooLargeMessage()
	case errors.Is(err, attachment.ErrEmpty):
		return att, fiber.StatusUnprocessableEntity, msgAttachNone
	case errors.Is(err, attachment.ErrTypeNotAllowed):
		f.log.Info("attachment type refused", zap.Error(err))
		return att, fiber.StatusUnprocessableEntity, msgAttachType
	case errors.Is(err, multipart.ErrMessageTooLarge), errors.Is(err, io.ErrUnexpectedEOF):
		return att, fiber.StatusBadRequest, "附件读取失败，请重新选择。"
	default:
		f.log.Error("store attachment", zap.Error(err))
		return att, fiber.StatusServiceUnavailable, "附件保存失败，请稍后再试。"
	}
}

func (f *Form) tooLargeMessage() string {
	return "附件过大，最大 " + formatMB(f.cfg.MaxAttachmentBytes) + "，请压缩后重新选择。"
}

// fill sets the fields every channel of this package sets the same way.
func (f *Form) fill(env *ingest.Envelope, c *fiber.Ctx, channel ingest.Channel, id string) {
	env.V = ingest.SchemaVersion
	env.ID = id
	env.Reference = f.shared.References.For(id)
	env.Channel = channel
	env.ReceivedAt = time.Now().UTC()
	if env.Extra == nil {
		env.Extra = map[string]string{}
	}
	env.Extra["remote_addr"] = strings.Clone(c.IP())
}

// doPublish hands env to the broker and records the outcome. It logs a
// failure (the caller only answers the customer).
func (f *Form) doPublish(c *fiber.Ctx, env ingest.Envelope) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), f.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	err := f.publish(ctx, env)
	elapsed := time.Since(start)
	f.m.publishSeconds.WithLabelValues(string(env.Channel)).Observe(elapsed.Seconds())
	fields := []zap.Field{
		zap.String("channel", string(env.Channel)),
		zap.String("id", env.ID),
		zap.String("reference", env.Reference),
		zap.String("remote_addr", env.Extra["remote_addr"]),
		zap.Duration("publish", elapsed),
	}
	if env.Phone != "" {
		fields = append(fields, zap.String("phone", ingest.MaskPhone(env.Phone)))
	}
	if err != nil {
		f.m.submissions.WithLabelValues(string(env.Channel), "unavailable").Inc()
		f.log.Error("publish complaint failed", append(fields, zap.Error(err))...)
		return err
	}
	f.m.submissions.WithLabelValues(string(env.Channel), "accepted").Inc()
	f.log.Info("complaint accepted", append(fields,
		zap.Bool("has_email", env.Email != ""),
		zap.Int("attachments", len(env.Attachments)))...)
	return nil
}

// formValues returns the posted fields (not the query string) of a
// multipart or URL-encoded form, first value per name.
func formValues(c *fiber.Ctx) map[string]string {
	out := make(map[string]string)
	if form, err := c.MultipartForm(); err == nil {
		for k, v := range form.Value {
			if len(v) > 0 {
				out[k] = v[0]
			}
		}
		return out
	}
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if _, seen := out[string(k)]; !seen {
			out[string(k)] = string(v)
		}
	})
	return out
}

// echo prepares a submitted value for showing it again: valid UTF-8 and
// bounded in size.
func echo(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxEchoBytes {
		s = strings.ToValidUTF8(s[:maxEchoBytes], "")
	}
	return s
}

// formatMB formats a byte count for customers: "10 MB", "0.5 MB".
func formatMB(n int64) string {
	mb := float64(n) / (1 << 20)
	if mb == float64(int64(mb)) {
		return fmt.Sprintf("%d MB", int64(mb))
	}
	return fmt.Sprintf("%.1f MB", mb)
}

// metrics are the Prometheus metrics of a Form.
type metrics struct {
	submissions    *prometheus.CounterVec
	publishSeconds *prometheus.HistogramVec
	lookups        *prometheus.CounterVec
	surveys        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_webform_submissions_total",
			Help: "Complaint submissions to the web form (channel webform) and the JSON API (channel api), by outcome: accepted, invalid, too_large, honeypot, csrf, rate_limited, bad_request, conflict, unavailable.",
		}, []string{"channel", "outcome"}),
		publishSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tousu_webform_publish_duration_seconds",
			Help:    "Time until the broker acknowledged (or refused) a complaint from the web form or the JSON API.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"channel"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_webform_status_lookups_total",
			Help: "Status page look-ups by outcome: found, not_found, invalid, csrf, rate_limited, locked, unavailable.",
		}, []string{"outcome"}),
		surveys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_webform_surveys_total",
			Help: "Follow-up survey answers and look-ups by outcome: satisfied, unsatisfied, closed, unknown, unavailable.",
		}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.submissions, m.publishSeconds, m.lookups, m.surveys} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("webform: register metrics: %w", err)
		}
	}
	return m, nil
}

// Package webform is the web channel of tousu: a server-rendered complaint
// form in Simplified Chinese that works on a phone without JavaScript, the
// receipt it answers with, a status page where customers look up their
// case, and the same submission as JSON at POST /api/v1/complaints.
//
// Every accepted submission becomes an ingest.Envelope handed to the
// ingest.Publish function; the customer sees a reference (受理编号) only
// after Publish returned nil, and a clear 503 otherwise. The HTML form is
// protected by a CSRF token (fiber's middleware/csrf, double submit of a
// cookie and a form field), a honeypot field and a per-IP rate limit; the
// JSON API by the authentication middleware the caller supplies.
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
// into each form (sending the same rendered form twice yields the same
// reference), the API from the caller's account and the Idempotency-Key
// header. Reference numbers are derived from envelope ids under the
// installation's key (Shared.References), so nobody can compute one.
//
// Rate-limit counters are kept in process memory: Config.RateLimit
// applies per replica, so behind a load balancer spreading requests over n
// replicas one client IP may make up to n times RateLimit submissions (and
// as many status look-ups) per RateWindow. What must hold across replicas,
// the lock of a reference after failed status look-ups and the API's
// idempotency keys, is kept in the Shared.Ledger.
package webform

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime/multipart"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
)

//go:embed templates/*.html
var templateFS embed.FS

// Form fields. The honeypot is a text field hidden from people; only
// robots fill it in.
const (
	fieldCSRF       = "_csrf"
	fieldNonce      = "nonce"
	fieldHoneypot   = "website"
	fieldAttachment = "attachment"
	csrfContextKey  = "tousu.webform.csrf"
	csrfCookieName  = "tousu_csrf"
	nonceBytes      = 16
	maxEchoBytes    = 64 << 10 // longest field value echoed back into a re-rendered form
)

// Customer-facing messages shared by several pages.
const (
	msgBusy       = "系统繁忙，请稍后再试。您的投诉尚未提交成功，请稍后重新提交。"
	msgFixFields  = "请修改下面标出的项目后重新提交。"
	msgReselect   = "如有附件，请重新选择。"
	msgExpired    = "页面已过期或无法验证来源，请返回投诉页面刷新后重新填写提交。"
	msgTooMany    = "提交过于频繁，请稍后再试。"
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

	tokens      *csrfTokens
	csrf        fiber.Handler
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
// fails. logger should carry a component field.
func New(cfg Config, shared Shared, publish ingest.Publish, store *attachment.Store, logger *zap.Logger, reg prometheus.Registerer) (*Form, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := shared.validate(publish != nil); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	f := &Form{cfg: cfg, shared: shared, publish: publish, store: store, log: logger, pages: pages}
	if f.m, err = newMetrics(reg); err != nil {
		return nil, err
	}
	f.tokens = newCSRFTokens(csrfKey(cfg.CSRFSecret, logger), cfg.CSRFExpiration)
	f.csrf = f.newCSRF()
	f.submitLimit = f.newLimiter(func(c *fiber.Ctx) error {
		f.m.submissions.WithLabelValues(string(ingest.ChannelWebForm), "rate_limited").Inc()
		return f.message(c, fiber.StatusTooManyRequests, "请稍后再试", msgTooMany, "/")
	})
	f.statusLimit = f.newLimiter(func(c *fiber.Ctx) error {
		f.m.lookups.WithLabelValues("rate_limited").Inc()
		return f.message(c, fiber.StatusTooManyRequests, "请稍后再试", "查询过于频繁，请稍后再试。", "/status")
	})
	return f, nil
}

func (f *Form) newLimiter(reached fiber.Handler) fiber.Handler {
	return limiter.New(limiter.Config{
		Max:          f.cfg.RateLimit,
		Expiration:   f.cfg.RateWindow,
		LimitReached: reached,
	})
}

// Mount registers on app:
//
//	GET  /                   the complaint form
//	POST /complaints         form submission; answers with the receipt page
//	POST /api/v1/complaints  the JSON API, behind apiAuth
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
	app.Post("/complaints", rejectEncodedBody, f.submitLimit, f.csrf, f.submit)
	app.Post("/api/v1/complaints", apiAuth, f.apiSubmit)
}

// pageData is what every template gets; each page uses some of it.
type pageData struct {
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

	// The receipt.
	Reference string
	EmailOnly bool

	// The status page.
	Status *statusView

	// The message page.
	Message string
	Back    string
}

// fieldView is one input of the complaint form.
type fieldView struct {
	Name, Label, Type, Autocomplete, InputMode, Hint string
	Value, Error                                     string
	Required, Textarea                               bool
}

// formFields lists the inputs of the complaint form in order.
var formFields = []fieldView{
	{Name: "name", Label: "姓名", Type: "text", Autocomplete: "name"},
	{Name: "phone", Label: "手机号码", Type: "tel", Autocomplete: "tel", InputMode: "tel", Hint: "11 位手机号码，或带区号的固定电话（如 010-62345678）。与电子邮箱至少填写一项；用号码后四位可以查询处理进度。"},
	{Name: "email", Label: "电子邮箱", Type: "email", Autocomplete: "email", InputMode: "email"},
	{Name: "subject", Label: "主题", Type: "text", Hint: "一句话概括您的问题，例如：手机信号差"},
	{Name: "description", Label: "投诉内容", Textarea: true, Required: true, Hint: "请写明发生了什么、时间地点、涉及的订单号或金额，以及您的诉求。"},
}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template)
	for _, name := range []string{"form", "receipt", "status", "message"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
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
	var buf bytes.Buffer
	if err := f.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		f.log.Error("render page", zap.String("page", page), zap.Error(err))
		return c.Status(fiber.StatusInternalServerError).SendString("页面生成失败，请稍后再试。")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	return c.Status(status).Send(buf.Bytes())
}

// message renders a page that only says something, with a link back to
// the page at back (relative to the mount prefix).
func (f *Form) message(c *fiber.Ctx, status int, title, msg, back string) error {
	base := mountBase(c)
	return f.render(c, status, "message", pageData{Title: title, Base: base, Message: msg, Back: base + back})
}

// mountBase returns the prefix the handlers are mounted under, without a
// trailing slash: the route's path without the route's own last part.
func mountBase(c *fiber.Ctx) string {
	p := c.Route().Path
	for _, suffix := range []string{"/api/v1/complaints", "/complaints", "/status", "/"} {
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
	return f.message(c, fiber.StatusForbidden, "页面已过期", msgExpired, back)
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
		Title:       "在线投诉",
		Base:        mountBase(c),
		Nonce:       nonce,
		Fields:      fields,
		Attachments: f.store != nil,
		Attachment:  errs[fieldAttachment],
		MaxAttachMB: formatMB(f.cfg.MaxAttachmentBytes),
	}
}

func (f *Form) showForm(c *fiber.Ctx) error {
	return f.render(c, fiber.StatusOK, "form", f.formPage(c, newNonce(), nil, nil))
}

// submit handles POST /complaints.
func (f *Form) submit(c *fiber.Ctx) error {
	values := formValues(c)
	channel := string(ingest.ChannelWebForm)
	if values[fieldHoneypot] != "" {
		f.m.submissions.WithLabelValues(channel, "honeypot").Inc()
		f.log.Info("honeypot field filled; nothing published", zap.String("remote_addr", c.IP()))
		return f.message(c, fiber.StatusBadRequest, "未能受理", msgNotAccept, "/")
	}
	nonce := values[fieldNonce]
	if !validNonce(nonce) {
		f.m.submissions.WithLabelValues(channel, "bad_request").Inc()
		return f.message(c, fiber.StatusBadRequest, "页面已过期", msgExpired, "/")
	}

	env := ingest.Envelope{
		Name:        strings.TrimSpace(values["name"]),
		Phone:       strings.TrimSpace(values["phone"]),
		Email:       strings.TrimSpace(values["email"]),
		Subject:     strings.TrimSpace(values["subject"]),
		Description: strings.TrimSpace(values["description"]),
	}
	errs := make(map[string]string)
	for _, fe := range f.cfg.Intake.Check(&env) {
		errs[fe.Field] = fe.Message
	}
	status := fiber.StatusUnprocessableEntity
	file := f.uploadedFile(c)
	if file != nil && file.Size > f.cfg.MaxAttachmentBytes {
		errs[fieldAttachment] = f.tooLargeMessage()
		status = fiber.StatusRequestEntityTooLarge
	}
	if len(errs) > 0 {
		return f.reject(c, status, nonce, values, errs, msgFixFields)
	}

	if file != nil {
		att, status, msg := f.storeAttachment(file)
		if msg != "" {
			errs[fieldAttachment] = msg
			return f.reject(c, status, nonce, values, errs, msgFixFields)
		}
		env.Attachments = []ingest.Attachment{att}
	}

	f.fill(&env, c, ingest.ChannelWebForm, ingest.NewID(ingest.ChannelWebForm, "", nonce))
	if err := f.doPublish(c, env); err != nil {
		c.Set(fiber.HeaderRetryAfter, "10")
		page := f.formPage(c, nonce, values, nil)
		page.Summary = msgBusy
		if file != nil {
			page.Summary += msgReselect
		}
		return f.render(c, fiber.StatusServiceUnavailable, "form", page)
	}
	return f.render(c, fiber.StatusOK, "receipt", pageData{
		Title:     "投诉已受理",
		Base:      mountBase(c),
		Reference: env.Reference,
		EmailOnly: env.Phone == "",
	})
}

// reject re-renders the form with the customer's values and a message
// under each bad field.
func (f *Form) reject(c *fiber.Ctx, status int, nonce string, values, errs map[string]string, summary string) error {
	outcome := "invalid"
	if status == fiber.StatusRequestEntityTooLarge {
		outcome = "too_large"
	}
	f.m.submissions.WithLabelValues(string(ingest.ChannelWebForm), outcome).Inc()
	page := f.formPage(c, nonce, values, errs)
	page.Summary = summary
	if _, ok := errs[fieldAttachment]; ok || f.uploadedFile(c) != nil {
		page.Summary += msgReselect
	}
	return f.render(c, status, "form", page)
}

// uploadedFile returns the attachment of a multipart submission, or nil
// when there is none (an empty file input sends a part with no name and no
// content) or attachments are off.
func (f *Form) uploadedFile(c *fiber.Ctx) *multipart.FileHeader {
	if f.store == nil {
		return nil
	}
	form, err := c.MultipartForm()
	if err != nil {
		return nil
	}
	files := form.File[fieldAttachment]
	if len(files) == 0 || (files[0].Filename == "" && files[0].Size == 0) {
		return nil
	}
	return files[0]
}

// storeAttachment puts an uploaded file into the store. On failure it
// returns the HTTP status and the message to show under the field.
func (f *Form) storeAttachment(fh *multipart.FileHeader) (ingest.Attachment, int, string) {
	r, err := fh.Open()
	if err != nil {
		f.log.Error("open uploaded file", zap.Error(err))
		return ingest.Attachment{}, fiber.StatusBadRequest, "附件读取失败，请重新选择。"
	}
	defer r.Close()
	att, err := f.store.Put(r, fh.Filename, fh.Header.Get(fiber.HeaderContentType), f.cfg.MaxAttachmentBytes)
	switch {
	case err == nil:
		return att, 0, ""
	case errors.Is(err, attachment.ErrTooLarge):
		return att, fiber.StatusRequestEntityTooLarge, f.tooLargeMessage()
	case errors.Is(err, attachment.ErrEmpty):
		return att, fiber.StatusUnprocessableEntity, msgAttachNone
	case errors.Is(err, attachment.ErrTypeNotAllowed):
		f.log.Info("attachment type refused", zap.Error(err))
		return att, fiber.StatusUnprocessableEntity, msgAttachType
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

func newNonce() string {
	b := make([]byte, nonceBytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func validNonce(s string) bool {
	if len(s) != 2*nonceBytes {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
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
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.submissions, m.publishSeconds, m.lookups} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("webform: register metrics: %w", err)
		}
	}
	return m, nil
}

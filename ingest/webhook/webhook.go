// Package webhook receives complaints that partner platforms post to
// POST /webhooks/{source}.
//
// A request is signed with the source's shared secret:
//
//	X-Tousu-Timestamp: <unix seconds>
//	X-Tousu-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>
//
// (Sign computes it). The handler checks, in this order: the body is
// within the source's max_body_bytes (413; it stops reading there), both
// headers are present, the signature matches and the timestamp is within
// ±Tolerance of the server clock (401 with a JSON error saying which),
// and only then parses the JSON (400 if it is not one UTF-8 JSON object,
// 422 with the failing field if a field is invalid). A source that is not
// configured is answered exactly as a known one whose signature does not
// match, so the answers do not tell which sources exist.
//
// The default payload is the JSON API's fields plus source_id and
// occurred_at (RFC 3339, or Unix seconds); a per-source Mapping reads them
// from other places in a partner's JSON. An accepted complaint is answered
// 202 {"reference": "..."} after the broker acknowledged it, 503 when it
// did not.
//
// Idempotency: the envelope id is derived from the Idempotency-Key header,
// else the payload's source_id, else a hash of the mapped fields, so a
// repeated or replayed request returns the same reference and, because the
// id is the same, creates no second case downstream — across restarts and
// replicas too. A key reused for different content answers 409: the key's
// first content is kept in the installation's shared ledger
// (webform.IdempotencyKeys, the same check as the JSON API's), so every
// replica answers alike.
//
// Replays: the Idempotency-Key header is not signed, so a captured request
// replayed within the tolerance with another key would derive another id.
// The handler therefore remembers the signatures it accepted (per process,
// the last recentSignatures of them, far more than a tolerance window
// holds at ordinary rates) and gives a request carrying one of them the
// id of the first: a replay is the same complaint, whatever its key. A
// replay sent to another replica is not caught.
package webhook

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/bodylimit"
	"github.com/tousu/tousu/ingest/webform"
)

// Header names of the signing scheme.
const (
	HeaderTimestamp   = "X-Tousu-Timestamp"
	HeaderSignature   = "X-Tousu-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// recentSignatures is how many accepted signatures the replay cache
// remembers.
const recentSignatures = 65536

// Sign returns the signature header value for a request: "sha256=" and the
// hex HMAC-SHA256 of timestamp + "." + body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Handler serves POST /webhooks/:source. It is safe for concurrent use;
// create it with New.
type Handler struct {
	cfg     Config
	sources map[string]source
	refs    ingest.References
	publish ingest.Publish
	log     *zap.Logger
	m       metrics
	keys    webform.IdempotencyKeys
	signed  *keyCache // accepted signature -> envelope id
	unknown source    // what requests to unknown sources are checked against
	now     func() time.Time
	// refused is told each refused request of a known source (OnRefused).
	refused func(source, class string)
}

// source is a resolved SourceConfig.
type source struct {
	// secrets are the keys a request may be signed with: the current
	// one, and the previous one while a partner rotates.
	secrets [][]byte
	paths   fieldPaths
	maxBody int64
	html    []string // fields sent as HTML
	// rate limits the source's authentic requests; Max 0: no limit.
	rate webform.RateLimit
}

// New returns a Handler that publishes through publish, sharing with the
// other replicas what shared holds: reference numbers derived by
// shared.References, idempotency keys decided on shared.Ledger (both
// required) and the sources' rate limits counted on shared.Rates (nil:
// no source is limited). cfg must be provisioned (Config.Provision);
// secrets not resolved yet are read now, relative to the working
// directory. Metrics are registered with reg unless it is nil. logger
// should carry a component field.
func New(cfg Config, shared webform.Shared, publish ingest.Publish, logger *zap.Logger, reg prometheus.Registerer) (*Handler, error) {
	if publish == nil {
		return nil, errors.New("webhook: publish function is nil")
	}
	if shared.Ledger == nil {
		return nil, errors.New("webhook: the idempotency keys' ledger is nil")
	}
	if err := shared.References.Check(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	refs, keys := shared.References, webform.IdempotencyKeys{Ledger: shared.Ledger}
	cfg.Sources = maps.Clone(cfg.Sources)
	if err := cfg.ResolveSecrets("", nil); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	h := &Handler{
		cfg:     cfg,
		sources: make(map[string]source, len(cfg.Sources)),
		refs:    refs,
		publish: publish,
		log:     logger,
		keys:    keys,
		signed:  newKeyCache(recentSignatures),
		now:     time.Now,
	}
	random := make([]byte, sha256.Size)
	rand.Read(random)
	h.unknown = source{secrets: [][]byte{random}, maxBody: h.cfg.MaxBodyBytes}
	for name, src := range cfg.Sources {
		limit := src.MaxBodyBytes
		if limit == 0 {
			limit = h.cfg.MaxBodyBytes
		}
		secrets := [][]byte{[]byte(src.Secret.Reveal())}
		if src.PreviousSecret.Known() {
			secrets = append(secrets, []byte(src.PreviousSecret.Reveal()))
		}
		h.sources[name] = source{secrets: secrets, paths: newFieldPaths(src.Mapping), maxBody: limit, html: src.HTML,
			rate: webform.RateLimit{Rates: shared.Rates, Max: src.RateLimit, Window: src.RateWindow}}
	}
	m, err := newMetrics(reg, sortedKeys(cfg.Sources))
	if err != nil {
		return nil, err
	}
	h.m = m
	return h, nil
}

// OnRefused makes the handler call fn for every request to a configured
// source that it refuses for what the request is (4xx: a signature or
// timestamp that does not hold, a body too large or not the source's
// JSON, a reused idempotency key), with the class of the refusal in
// Chinese ("签名无效", "时间戳超出允许范围"; RefusalClass). Requests to
// unknown sources are not told: they are nobody's channel. fn is called
// on the request's goroutine, concurrently; it must be safe for that and
// must not block. Call it before Mount.
func (h *Handler) OnRefused(fn func(source, class string)) { h.refused = fn }

// refusalClasses are the classes of the error codes of refusals.
var refusalClasses = map[string]string{
	"unsupported_encoding": "不支持压缩的内容",
	"too_large":            "内容过大",
	"bad_request":          "请求无法读取",
	"missing_header":       "缺少签名请求头",
	"bad_signature":        "签名无效",
	"bad_timestamp":        "时间戳格式错误",
	"stale_timestamp":      "时间戳超出允许范围",
	"bad_idempotency_key":  "幂等键无效",
	"invalid_json":         "内容不是有效的 JSON",
	"invalid_field":        "字段无效",
	"idempotency_conflict": "幂等键重复使用",
}

// RefusalClass returns the class of a refusal by its error code (the
// answer's "code"): its Chinese name, or the code itself for one without.
func RefusalClass(code string) string {
	if c, ok := refusalClasses[code]; ok {
		return c
	}
	return code
}

// PathPrefix is where Mount puts the webhooks: POST PathPrefix + source.
// Their handler reads the request body itself, within the source's limit.
const PathPrefix = "/webhooks/"

// Mount registers POST /webhooks/:source on app.
func (h *Handler) Mount(app fiber.Router) {
	app.Post(PathPrefix+":source", h.handle)
}

// apiError is the JSON body of every error answer. Code is stable for
// programs; Error is for people.
type apiError struct {
	Error     string              `json:"error"`
	Code      string              `json:"code"`
	Field     string              `json:"field,omitempty"`
	Errors    []ingest.FieldError `json:"errors,omitempty"`
	Retryable bool                `json:"retryable,omitempty"`
}

func (h *Handler) handle(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("source"))
	src, known := h.sources[name]
	label := name
	if !known {
		// Checked against a random secret that nothing signs with, an
		// unknown source is answered as a known one with a bad signature.
		src, label = h.unknown, "unknown"
	}
	fail := func(status int, outcome string, e apiError) error {
		h.m.requests.WithLabelValues(label, outcome).Inc()
		if known && status < fiber.StatusInternalServerError && h.refused != nil {
			h.refused(name, RefusalClass(e.Code))
		}
		return c.Status(status).JSON(e)
	}
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return fail(fiber.StatusUnsupportedMediaType, "bad_request", apiError{Error: "不支持压缩的请求内容（Content-Encoding）", Code: "unsupported_encoding"})
	}
	body, err := bodylimit.Read(c, src.maxBody)
	switch {
	case errors.Is(err, bodylimit.ErrTooLarge):
		return fail(fiber.StatusRequestEntityTooLarge, "too_large", apiError{Error: fmt.Sprintf("请求内容过大，最多 %d 字节", src.maxBody), Code: "too_large"})
	case err != nil:
		return fail(fiber.StatusBadRequest, "bad_request", apiError{Error: "请求内容读取失败", Code: "bad_request"})
	}

	sig := strings.Clone(c.Get(HeaderSignature))
	if code, msg := h.verify(src, c.Get(HeaderTimestamp), sig, body); code != "" {
		outcome := "unauthorized"
		if !known {
			outcome = "unknown_source"
		}
		h.log.Info("webhook refused", zap.String("source", name), zap.String("outcome", outcome), zap.String("reason", code), zap.String("remote_addr", c.IP()))
		return fail(fiber.StatusUnauthorized, outcome, apiError{Error: msg, Code: code})
	}

	if retry, over := h.overLimit(c.UserContext(), name, src); over {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		return fail(fiber.StatusTooManyRequests, "rate_limited", apiError{Error: "请求过于频繁，请稍后再试", Code: "rate_limited", Retryable: true})
	}
	key := c.Get(HeaderIdempotency)
	if !ingest.ValidIdempotencyKey(key) {
		return fail(fiber.StatusBadRequest, "bad_request", apiError{Error: fmt.Sprintf("Idempotency-Key 须为 1 到 %d 个可见 ASCII 字符", ingest.MaxIdempotencyKeyBytes), Code: "bad_idempotency_key"})
	}
	p, err := parsePayload(body, src.paths)
	var fe *ingest.FieldError
	switch {
	case errors.As(err, &fe):
		return fail(fiber.StatusUnprocessableEntity, "invalid", apiError{Error: fe.Message, Code: "invalid_field", Field: fe.Field, Errors: []ingest.FieldError{*fe}})
	case err != nil:
		return fail(fiber.StatusBadRequest, "bad_request", apiError{Error: "请求内容不是有效的 JSON 对象（须为 UTF-8）", Code: "invalid_json"})
	}

	env := ingest.Envelope{
		V:           ingest.SchemaVersion,
		Channel:     ingest.ChannelWebhook,
		Source:      name,
		SourceID:    p.SourceID,
		ReceivedAt:  h.now().UTC(),
		OccurredAt:  p.OccurredAt,
		Name:        p.Name,
		Phone:       p.Phone,
		Email:       p.Email,
		Subject:     p.Subject,
		Description: p.Description,
		Extra:       map[string]string{"remote_addr": strings.Clone(c.IP())},
	}
	for _, field := range src.html {
		switch field {
		case "subject":
			env.Subject = ingest.HTMLToText(env.Subject)
		case "description":
			env.Description = ingest.HTMLToText(env.Description)
			env.Extra[ingest.ExtraTextFromHTML] = "true"
		}
	}
	if errs := h.cfg.Intake.Check(&env); len(errs) > 0 {
		return fail(fiber.StatusUnprocessableEntity, "invalid", apiError{Error: errs[0].Message, Code: "invalid_field", Field: errs[0].Field, Errors: errs})
	}

	content := ingest.ContentKey(p.Name, p.Phone, p.Email, p.Subject, p.Description, p.SourceID, formatTime(p.OccurredAt))
	idKey := key
	switch {
	case idKey == "" && p.SourceID != "":
		idKey = p.SourceID
	case idKey == "":
		idKey = content
	}
	env.ID = ingest.NewID(ingest.ChannelWebhook, name, idKey)
	if first, ok := h.signed.get(sig); ok {
		env.ID = first // a replay under another key is the same complaint
	}
	env.Reference = h.refs.For(env.ID)

	ctx, cancel := context.WithTimeout(c.UserContext(), h.cfg.PublishTimeout)
	defer cancel()
	ref, err := h.keys.Claim(ctx, "webhook:"+env.ID, content, env.Reference)
	switch {
	case errors.Is(err, webform.ErrKeyReused):
		return fail(fiber.StatusConflict, "conflict", apiError{Error: "该幂等键（Idempotency-Key 或 source_id）已用于内容不同的投诉", Code: "idempotency_conflict"})
	case err != nil:
		h.log.Error("cannot record an idempotency key", zap.String("source", name), zap.String("id", env.ID), zap.Error(err))
		c.Set(fiber.HeaderRetryAfter, "10")
		return fail(fiber.StatusServiceUnavailable, "unavailable", apiError{Error: "系统繁忙，请稍后再试", Code: "unavailable", Retryable: true})
	}
	env.Reference = ref
	start := time.Now()
	err = h.publish(ctx, env)
	elapsed := time.Since(start)
	h.m.publishSeconds.WithLabelValues(name).Observe(elapsed.Seconds())
	logFields := []zap.Field{
		zap.String("source", name), zap.String("id", env.ID), zap.String("reference", env.Reference),
		zap.String("remote_addr", env.Extra["remote_addr"]), zap.Duration("publish", elapsed),
	}
	if env.Phone != "" {
		logFields = append(logFields, zap.String("phone", ingest.MaskPhone(env.Phone)))
	}
	if err != nil {
		h.log.Error("publish webhook complaint failed", append(logFields, zap.Error(err))...)
		c.Set(fiber.HeaderRetryAfter, "10")
		return fail(fiber.StatusServiceUnavailable, "unavailable", apiError{Error: "系统繁忙，请稍后再试", Code: "unavailable", Retryable: true})
	}
	h.signed.put(sig, env.ID)
	h.m.requests.WithLabelValues(label, "accepted").Inc()
	h.log.Info("webhook complaint accepted", logFields...)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"reference": env.Reference})
}

// verify checks the signature headers. It returns an error code and a
// message, or "" when the request is authentic and fresh.
func (h *Handler) verify(src source, ts, sig string, body []byte) (code, msg string) {
	switch {
	case ts == "" && sig == "":
		return "missing_header", "缺少签名请求头 " + HeaderTimestamp + " 和 " + HeaderSignature
	case ts == "":
		return "missing_header", "缺少请求头 " + HeaderTimestamp
	case sig == "":
		return "missing_header", "缺少请求头 " + HeaderSignature
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if !strings.HasPrefix(sig, "sha256=") || err != nil || !src.signedBy(got, ts, body) {
		return "bad_signature", "签名无效"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "bad_timestamp", HeaderTimestamp + " 须为 Unix 秒数"
	}
	skew := h.now().Sub(time.Unix(secs, 0))
	if secs > 1<<40 || secs < -(1<<40) || skew > h.cfg.Tolerance || skew < -h.cfg.Tolerance {
		return "stale_timestamp", fmt.Sprintf("时间戳超出允许范围（±%s），请检查时钟后重新签名发送", h.cfg.Tolerance)
	}
	return "", ""
}

// overLimit reports whether an authentic request of the source is over
// its rate limit, and when it would fit. A request that cannot be counted
// (the shared records unreachable) is let through: the source is
// authenticated, and the broker it would publish to is likely away too.
func (h *Handler) overLimit(ctx context.Context, name string, src source) (time.Duration, bool) {
	if src.rate.Max == 0 || src.rate.Rates == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok, retry, err := src.rate.Allow(ctx, "rate:webhook:"+name, h.now())
	if err != nil {
		h.log.Warn("webhook rate limit not counted", zap.String("source", name), zap.Error(err))
		return 0, false
	}
	return retry, !ok
}

// signedBy reports whether sum is the HMAC of the request under one of
// the source's secrets. Every secret is tried, each compared in constant
// time, so the answer takes as long whichever matched.
func (src source) signedBy(sum []byte, ts string, body []byte) bool {
	ok := false
	for _, key := range src.secrets {
		if hmac.Equal(sum, mac(key, ts, body)) {
			ok = true
		}
	}
	return ok
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// keyCache is a bounded LRU map of strings: signature to envelope id.
type keyCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	items map[string]*list.Element
}

type cacheEntry struct{ id, content string }

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (k *keyCache) get(id string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.items[id]; ok {
		k.order.MoveToFront(e)
		return e.Value.(*cacheEntry).content, true
	}
	return "", false
}

func (k *keyCache) put(id, content string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.items[id]; ok {
		e.Value.(*cacheEntry).content = content
		k.order.MoveToFront(e)
		return
	}
	k.items[id] = k.order.PushFront(&cacheEntry{id, content})
	if k.order.Len() > k.max {
		last := k.order.Back()
		k.order.Remove(last)
		delete(k.items, last.Value.(*cacheEntry).id)
	}
}

// metrics are the Prometheus metrics of a Handler.
type metrics struct {
	requests       *prometheus.CounterVec
	publishSeconds *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, sources []string) (metrics, error) {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_webhook_requests_total",
			Help: "Webhook requests by source (\"unknown\" for names not configured) and outcome: accepted, unknown_source, too_large, unauthorized, rate_limited, bad_request, invalid, conflict, unavailable.",
		}, []string{"source", "outcome"}),
		publishSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tousu_webhook_publish_duration_seconds",
			Help:    "Time until the broker acknowledged (or refused) a webhook complaint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"source"}),
	}
	for _, s := range sources {
		m.requests.WithLabelValues(s, "accepted")
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.publishSeconds} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("webhook: register metrics: %w", err)
		}
	}
	return m, nil
}

package webform

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tousu/tousu/ingest"
)

// apiRequest is the body of POST /api/v1/complaints.
type apiRequest struct {
	Name        string `json:"name"`
	Phone       string `json:"phone"`
	Email       string `json:"email"`
	Subject     string `json:"subject"`
	Description string `json:"description"`
	// Consent is the customer's consent to the processing of their
	// personal information, collected by the caller: the version of the
	// notice they agreed to. Required with Config.APIRequiresConsent.
	Consent *apiConsent `json:"consent"`
}

// apiConsent is the consent of an apiRequest.
type apiConsent struct {
	Version string `json:"version"`
}

// apiError is the JSON body of every API error.
type apiError struct {
	Error     string              `json:"error"`
	Field     string              `json:"field,omitempty"`
	Errors    []ingest.FieldError `json:"errors,omitempty"`
	Retryable bool                `json:"retryable,omitempty"`
}

// accountLocal is the fiber.Ctx Locals key of the API caller's account.
const accountLocal = "tousu.webform.account"

// BearerAuth returns an authentication middleware for the JSON API: it
// takes the token from "Authorization: Bearer <token>" and lets the
// request through when authorize says the token is known and allowed to
// submit; an unknown token is answered 401, a known one whose role may
// not submit (a monitoring token) 403, each with a JSON error. account
// names the token's holder: idempotency keys are scoped by it, so two
// callers with the same key submit two complaints. authorize must be safe
// for concurrent use and should compare in constant time.
func BearerAuth(authorize func(token string) (account string, known, allowed bool)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		scheme, token, found := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
		token = strings.TrimSpace(token)
		if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return unauthorized(c)
		}
		account, known, allowed := authorize(token)
		switch {
		case !known:
			return unauthorized(c)
		case !allowed:
			return c.Status(fiber.StatusForbidden).JSON(apiError{Error: "禁止：此令牌无权提交投诉"})
		}
		c.Locals(accountLocal, account)
		return c.Next()
	}
}

func unauthorized(c *fiber.Ctx) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="tousu"`)
	return c.Status(fiber.StatusUnauthorized).JSON(apiError{Error: "未授权：请在 Authorization 头中提供有效的 Bearer 令牌"})
}

// apiSubmit handles POST /api/v1/complaints. The body is a JSON object
// with the fields of apiRequest and nothing else; it answers 202 with
// {"reference": "..."} once the broker acknowledged the complaint. With
// an Idempotency-Key header, a repeat of the request by the same account
// returns the same reference and creates no second case; the same key
// with other content answers 409. Keys are scoped by the account
// BearerAuth admitted, and remembered in the shared Ledger, so that every
// replica answers alike.
func (f *Form) apiSubmit(c *fiber.Ctx) error {
	channel := string(ingest.ChannelAPI)
	fail := func(status int, outcome string, e apiError) error {
		f.m.submissions.WithLabelValues(channel, outcome).Inc()
		return c.Status(status).JSON(e)
	}
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return fail(fiber.StatusUnsupportedMediaType, "bad_request", apiError{Error: "不支持压缩的请求内容（Content-Encoding）"})
	}
	body := c.Request().Body()
	if int64(len(body)) > f.cfg.MaxJSONBytes {
		return fail(fiber.StatusRequestEntityTooLarge, "too_large", apiError{Error: fmt.Sprintf("请求内容过大，最多 %d 字节", f.cfg.MaxJSONBytes)})
	}
	body, status, msg := jsonBody(c.Get(fiber.HeaderContentType), body)
	if status != 0 {
		return fail(status, "bad_request", apiError{Error: msg})
	}
	key := c.Get("Idempotency-Key")
	if !ingest.ValidIdempotencyKey(key) {
		return fail(fiber.StatusBadRequest, "bad_request", apiError{Error: fmt.Sprintf("Idempotency-Key 须为 1 到 %d 个可见 ASCII 字符", ingest.MaxIdempotencyKeyBytes)})
	}
	req, err := decodeRequest(body)
	if err != nil {
		return fail(fiber.StatusBadRequest, "bad_request", apiError{Error: err.Error()})
	}
	env := ingest.Envelope{
		Name:        strings.TrimSpace(req.Name),
		Phone:       strings.TrimSpace(req.Phone),
		Email:       strings.TrimSpace(req.Email),
		Subject:     strings.TrimSpace(req.Subject),
		Description: strings.TrimSpace(req.Description),
	}
	errs := checkFields(f.cfg.Intake, &env)
	if fe, ok := f.apiConsent(req.Consent); !ok {
		errs = append(errs, fe)
	}
	if len(errs) > 0 {
		return fail(fiber.StatusUnprocessableEntity, "invalid", apiError{Error: errs[0].Message, Field: errs[0].Field, Errors: errs})
	}
	busy := func() error {
		c.Set(fiber.HeaderRetryAfter, "10")
		return c.Status(fiber.StatusServiceUnavailable).JSON(apiError{Error: "系统繁忙，请稍后再试", Retryable: true})
	}
	account, _ := c.Locals(accountLocal).(string)
	idempotent := key != ""
	if !idempotent {
		key = randomKey()
	}
	f.fill(&env, c, ingest.ChannelAPI, ingest.NewID(ingest.ChannelAPI, account, key))
	if req.Consent != nil {
		ingest.SetConsent(&env, ingest.Consent{Version: strings.TrimSpace(req.Consent.Version), At: env.ReceivedAt})
	}
	if idempotent {
		ctx, cancel := context.WithTimeout(c.UserContext(), f.cfg.PublishTimeout)
		defer cancel()
		content := ingest.ContentKey(env.Name, env.Phone, env.Email, env.Subject, env.Description)
		ref, err := IdempotencyKeys{f.shared.Ledger}.Claim(ctx, "api:"+env.ID, content, env.Reference)
		switch {
		case errors.Is(err, ErrKeyReused):
			return fail(fiber.StatusConflict, "conflict", apiError{Error: "该 Idempotency-Key 已用于内容不同的投诉；新的投诉请使用新的 Idempotency-Key"})
		case err != nil:
			f.m.submissions.WithLabelValues(channel, "unavailable").Inc()
			f.log.Error("cannot record an idempotency key", zap.String("id", env.ID), zap.Error(err))
			return busy()
		}
		env.Reference = ref
	}
	// A repeat is published again: the first attempt may have failed after
	// its key was recorded, and the envelope id makes a repeat harmless.
	if err := f.doPublish(c, env); err != nil {
		return busy()
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"reference": env.Reference})
}

// apiConsent checks the consent of an API request: when given, a version
// of 1 to ingest.MaxConsentVersionBytes bytes on one line; required with
// Config.APIRequiresConsent.
func (f *Form) apiConsent(c *apiConsent) (ingest.FieldError, bool) {
	switch {
	case c == nil && f.cfg.APIRequiresConsent:
		return ingest.FieldError{Field: "consent", Message: "缺少客户对个人信息处理的同意：请提供 consent.version（客户同意的个人信息处理规则版本）"}, false
	case c == nil:
		return ingest.FieldError{}, true
	}
	if !ingest.ValidConsentVersion(strings.TrimSpace(c.Version)) {
		return ingest.FieldError{Field: "consent.version", Message: fmt.Sprintf("consent.version 须为 1 到 %d 字节的一行文字", ingest.MaxConsentVersionBytes)}, false
	}
	return ingest.FieldError{}, true
}

// ErrKeyReused is IdempotencyKeys.Claim's error for an idempotency key that
// came with other content before.
var ErrKeyReused = errors.New("idempotency key reused with other content")

// IdempotencyKeys remembers in a shared Ledger the content each
// idempotency key was first used with and the reference it was given, so
// that every replica answers a repeat with the first reference and a key
// reused for other content with 409: the JSON API and the webhooks
// (package webhook) both decide with it. It is safe for concurrent use.
type IdempotencyKeys struct{ Ledger Ledger }

// keyRecord is the ledger record of an idempotency key: a digest of the
// content it was first used with and the reference that was given.
type keyRecord struct {
	Content   string `json:"content"`
	Reference string `json:"reference"`
}

// Claim records under key (a ledger key: the caller's namespace and the
// envelope id) that it was used with content (an ingest.ContentKey) and
// reference, unless it was before. It returns the reference to answer with
// (the first one given for the key), ErrKeyReused when the key first came
// with other content, or the ledger's error; it blocks as Ledger.Append
// does, until ctx ends.
func (k IdempotencyKeys) Claim(ctx context.Context, key, content, reference string) (string, error) {
	mine := keyRecord{Content: content, Reference: reference}
	if first, ok := firstKeyRecord(k.Ledger.Entries(key)); ok {
		return checkKeyRecord(first, mine)
	}
	b, err := json.Marshal(mine)
	if err != nil {
		return "", err
	}
	if err := k.Ledger.Append(ctx, key, b); err != nil {
		return "", err
	}
	// Concurrent requests with the key: the first record decides.
	first, _ := firstKeyRecord(k.Ledger.Entries(key))
	return checkKeyRecord(first, mine)
}

// firstKeyRecord returns the first readable record of a key.
func firstKeyRecord(entries []LedgerEntry) (keyRecord, bool) {
	for _, e := range entries {
		var r keyRecord
		if json.Unmarshal(e.Value, &r) == nil && r.Content != "" {
			return r, true
		}
	}
	return keyRecord{}, false
}

// checkKeyRecord decides a request against the first record of its key.
func checkKeyRecord(first, mine keyRecord) (string, error) {
	if first.Content != mine.Content {
		return "", ErrKeyReused
	}
	return first.Reference, nil
}

// jsonBody checks the Content-Type of an API request and returns its body
// in UTF-8. The type must be JSON: application/json, or a JSON-based
// application/<name>+json. A charset parameter is honoured when the
// WHATWG encoding standard knows it (GBK and GB18030 bodies, say, are
// decoded, "gbk" and "gb2312" as GB18030); else, and for any other type, it returns 415 and a message.
// A body that does not decode in its declared charset answers 400.
func jsonBody(contentType string, body []byte) ([]byte, int, string) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || !(mediaType == fiber.MIMEApplicationJSON || strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json")) {
		return nil, fiber.StatusUnsupportedMediaType, "请求内容须为 JSON，请设置 Content-Type: application/json"
	}
	charset := params["charset"]
	if charset == "" {
		return body, 0, ""
	}
	enc, err := htmlindex.Get(charset)
	if err != nil || enc == encoding.Replacement {
		return nil, fiber.StatusUnsupportedMediaType, fmt.Sprintf("不支持字符集 %q，请使用 UTF-8（或 GBK、GB18030）", charset)
	}
	switch name, _ := htmlindex.Name(enc); name {
	case "utf-8":
		return body, 0, ""
	case "gbk":
		// GBK is sent for GB18030 text as often as not; GB18030 decodes
		// both (as the WHATWG standard decodes gbk).
		enc = simplifiedchinese.GB18030
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil || bytes.ContainsRune(out, utf8.RuneError) {
		return nil, fiber.StatusBadRequest, fmt.Sprintf("请求内容不是有效的 %s 编码，与声明的字符集不符", charset)
	}
	return out, 0, ""
}

// decodeRequest parses an API body strictly: valid UTF-8, exactly one JSON
// object, only known fields, all strings. Its errors are customer-readable.
func decodeRequest(body []byte) (apiRequest, error) {
	var req apiRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, errors.New("请求内容为空，需要一个 JSON 对象")
	}
	if !utf8.Valid(body) {
		return req, errors.New("请求内容不是有效的 UTF-8 编码")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return req, fmt.Errorf("字段 %s 必须是字符串", typeErr.Field)
		case errors.As(err, &typeErr):
			return req, errors.New("请求内容必须是一个 JSON 对象")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return req, fmt.Errorf("未知字段 %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return req, errors.New("请求内容不是有效的 JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, errors.New("请求内容只能包含一个 JSON 对象")
	}
	return req, nil
}

func randomKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "random:" + hex.EncodeToString(b)
}

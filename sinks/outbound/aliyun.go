package outbound

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
)

// Aliyun's SendSms API (RPC style, version 2017-05-25).
const (
	aliyunAction  = "SendSms"
	aliyunVersion = "2017-05-25"
)

// aliyunTemporary lists the answer codes of SendSms worth retrying: flow
// control (per number, per account, per API), the daily quota set in the
// console, and the platform's own failures. Every other code but OK is
// final: an invalid number, a template or signature not approved or not
// matching, missing parameters, credentials, permissions, an account out
// of service or of money.
var aliyunTemporary = []string{
	"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL",
	"Throttling", "Throttling.User", "Throttling.Api", "Throttling.Tenant",
	"isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "ServiceUnavailable", "InternalError", "SignatureNonceUsed",
}

// Aliyun is the Transport that sends each SMS through Aliyun SMS
// (阿里云短信服务): a SendSms call, POSTed as a form and signed with the
// AccessKey secret (HMAC-SHA1, signature version 1.0, see
// AliyunSignature), with the message kind's approved template and its
// parameters as TemplateParam and the delivery id as OutId. It sends to
// mainland mobile numbers only (+86 1xxxxxxxxxx, without +86 in the
// call); any other recipient fails permanently. The answer's Code "OK" is
// acceptance; flow control and platform failures (aliyunTemporary) and
// 5xx answers are temporary; every other code wraps ErrPermanent. Create
// it with NewAliyun; it is safe for concurrent use.
type Aliyun struct {
	endpoint
	cfg    AliyunConfig
	id     string
	secret string
	nonce  func() string
}

// NewAliyun returns the Aliyun SMS transport for cfg, provisioned, with
// its secrets resolved. logger should carry a component field.
func NewAliyun(cfg AliyunConfig, client *http.Client, logger *zap.Logger) (*Aliyun, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("outbound: sms aliyun: %w", err)
	}
	if !cfg.AccessKeyID.Known() || !cfg.AccessKeySecret.Known() {
		return nil, errors.New("outbound: sms aliyun: the AccessKey pair is not resolved")
	}
	e, err := newEndpoint(cfg.Endpoint, cfg.Timeout, client, logger)
	if err != nil {
		return nil, fmt.Errorf("outbound: sms aliyun: endpoint: %w", err)
	}
	return &Aliyun{endpoint: e, cfg: cfg, id: strings.TrimSpace(cfg.AccessKeyID.Reveal()),
		secret: strings.TrimSpace(cfg.AccessKeySecret.Reveal()), nonce: randomNonce}, nil
}

// aliyunAnswer is the JSON answer of SendSms (and of the API gateway's
// own refusals).
type aliyunAnswer struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
	BizID     string `json:"BizId"`
}

// Send calls SendSms for m and waits for the answer, at most the
// configured timeout. Errors name the endpoint's host, the message's id,
// the answer's code and its message (masked), never the recipient.
func (a *Aliyun) Send(ctx context.Context, m router.Outgoing) error {
	if m.Medium != router.MediumSMS {
		return a.errorf(m, "not an SMS: %w", ErrPermanent)
	}
	number, ok := mainlandMobile(m.To)
	if !ok {
		return a.errorf(m, "the recipient is not a mainland mobile number: %w", ErrPermanent)
	}
	tpl, ok := a.cfg.Templates[m.Kind]
	if !ok {
		return a.errorf(m, "no template is configured for this kind (sms.aliyun.templates.%s): %w", m.Kind, ErrPermanent)
	}
	param, err := templateParam(tpl, m)
	if err != nil {
		return a.errorf(m, "%v: %w", err, ErrPermanent)
	}
	form := url.Values{
		"AccessKeyId": {a.id}, "Action": {aliyunAction}, "Format": {"JSON"}, "RegionId": {a.cfg.RegionID},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {a.nonce()}, "SignatureVersion": {"1.0"},
		"Timestamp": {a.now().UTC().Format("2006-01-02T15:04:05Z")}, "Version": {aliyunVersion},
		"PhoneNumbers": {number}, "SignName": {a.cfg.SignName}, "TemplateCode": {tpl.Code}, "OutId": {m.ID},
	}
	if param != "" {
		form.Set("TemplateParam", param)
	}
	form.Set("Signature", AliyunSignature(http.MethodPost, form, a.secret))
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "tousu-sms/1")
	resp, err := a.post(ctx, h, []byte(form.Encode()))
	if err != nil {
		return a.errorf(m, "%w", err)
	}
	var ans aliyunAnswer
	decodeErr := json.Unmarshal(resp.Body, &ans)
	switch {
	case decodeErr == nil && ans.Code == "OK" && resp.OK():
		a.log.Debug("sms accepted", zap.String("id", m.ID), zap.String("kind", string(m.Kind)),
			zap.String("biz_id", ans.BizID), zap.String("request_id", ans.RequestID))
		return nil
	case decodeErr != nil || ans.Code == "":
		if resp.Temporary() || resp.OK() {
			// An answer that is not the API's (a proxy's error page):
			// worth another try.
			return a.errorf(m, "answer %s without a code", resp.Status)
		}
		return a.errorf(m, "answer %s without a code: %w", resp.Status, ErrPermanent)
	}
	// The message may quote what was sent; it is masked, and the number
	// is cut out in case the masking does not know its form.
	msg := strings.ReplaceAll(ingest.MaskText(ans.Message), number, ingest.MaskPhone(number))
	if resp.StatusCode >= 500 || slices.Contains(aliyunTemporary, ans.Code) {
		return a.errorf(m, "answer %s: %s (%s), request %s", resp.Status, ans.Code, msg, ans.RequestID)
	}
	return a.errorf(m, "answer %s: %s (%s), request %s: %w", resp.Status, ans.Code, msg, ans.RequestID, ErrPermanent)
}

// templateParam returns the TemplateParam JSON of m for tpl: the
// template's variables by tpl.Params, or m.Params as they are; "" when
// there are none.
func templateParam(tpl AliyunTemplate, m router.Outgoing) (string, error) {
	values := m.Params
	if len(tpl.Params) > 0 {
		values = make(map[string]string, len(tpl.Params))
		for v, from := range tpl.Params {
			val, ok := m.Params[from]
			if !ok {
				switch from {
				case "text":
					val, ok = m.Text, true
				case "reference":
					val, ok = m.Reference, m.Reference != ""
				}
			}
			if !ok {
				return "", fmt.Errorf("the template's variable %s needs the value %q, which the message does not have", v, from)
			}
			values[v] = val
		}
	}
	if len(values) == 0 {
		return "", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(values); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// AliyunSignature returns the Signature parameter of an Aliyun RPC call
// (signature method HMAC-SHA1, version 1.0) with the given HTTP method
// and parameters (a Signature among them is left out):
//
//	StringToSign = method + "&" + pct("/") + "&" + pct(canonical query)
//	Signature    = base64(HMAC-SHA1(accessKeySecret + "&", StringToSign))
//
// where the canonical query is the parameters sorted by name, each name
// and value percent-encoded (pct: RFC 3986, a space as %20, * as %2A, ~
// kept) and joined by = and &. It reproduces the published example of
// Aliyun's SMS documentation.
func AliyunSignature(method string, params url.Values, accessKeySecret string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var q strings.Builder
	for i, k := range names {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(popEscape(k) + "=" + popEscape(params.Get(k)))
	}
	mac := hmac.New(sha1.New, []byte(accessKeySecret+"&"))
	mac.Write([]byte(method + "&" + popEscape("/") + "&" + popEscape(q.String())))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// popEscape percent-encodes s as Aliyun's RPC signature requires.
func popEscape(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(e)
}

// randomNonce returns a fresh SignatureNonce.
func randomNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

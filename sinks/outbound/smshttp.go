package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/router"
)

// Header names of a request of the http SMS provider. The timestamp and
// signature headers are those of tousu's inbound and alert webhooks.
const (
	HeaderMessageID = "X-Tousu-Message-ID"
	HeaderTimestamp = webhook.HeaderTimestamp
	HeaderSignature = webhook.HeaderSignature
)

// SMSRequest is the JSON body the http SMS provider POSTs: the message's
// delivery id (a relay drops a repeat by it), the recipient in E.164, the
// rendered text, the template's named values, the kind and the case's
// reference.
type SMSRequest struct {
	ID        string             `json:"id"`
	To        string             `json:"to"`
	Text      string             `json:"text"`
	Params    map[string]string  `json:"params,omitempty"`
	Kind      router.MessageKind `json:"kind"`
	Reference string             `json:"reference"`
}

// SMSHTTP is the Transport that sends each SMS to an organisation's own
// relay: a POST of SMSRequest as JSON with the headers
//
//	Content-Type: application/json; charset=utf-8
//	X-Tousu-Message-ID: <the delivery id>
//	X-Tousu-Timestamp: <unix seconds>
//	X-Tousu-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// the signing scheme of tousu's webhooks (webhook.Sign). A 2xx answer is
// acceptance; 408, 429, 5xx, timeouts and network errors are temporary;
// any other answer, redirects included, wraps ErrPermanent. Create it with
// NewSMSHTTP; it is safe for concurrent use.
type SMSHTTP struct {
	endpoint
	secret []byte
}

// NewSMSHTTP returns the http SMS transport for cfg, provisioned, with its
// secret resolved. logger should carry a component field.
func NewSMSHTTP(cfg SMSHTTPConfig, client *http.Client, logger *zap.Logger) (*SMSHTTP, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("outbound: sms http: %w", err)
	}
	if !cfg.Secret.Known() {
		return nil, errors.New("outbound: sms http: secret: not resolved")
	}
	e, err := newEndpoint(cfg.URL, cfg.Timeout, client, logger)
	if err != nil {
		return nil, fmt.Errorf("outbound: sms http: url: %w", err)
	}
	return &SMSHTTP{endpoint: e, secret: []byte(strings.TrimSpace(cfg.Secret.Reveal()))}, nil
}

// Send posts m and waits for the answer, at most the configured timeout.
// A message that is not an SMS is refused permanently. Errors name the
// relay's host and the message's id, never the recipient or the answer.
func (s *SMSHTTP) Send(ctx context.Context, m router.Outgoing) error {
	if m.Medium != router.MediumSMS || m.To == "" {
		return s.errorf(m, "not an SMS with a recipient: %w", ErrPermanent)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // status links keep their &
	if err := enc.Encode(SMSRequest{ID: m.ID, To: m.To, Text: m.Text, Params: m.Params, Kind: m.Kind, Reference: m.Reference}); err != nil {
		return s.errorf(m, "encode: %v: %w", err, ErrPermanent)
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "tousu-sms/1")
	h.Set(HeaderMessageID, m.ID)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, webhook.Sign(s.secret, ts, body.Bytes()))
	a, err := s.post(ctx, h, body.Bytes())
	switch {
	case err != nil:
		return s.errorf(m, "%w", err)
	case a.OK():
		s.log.Debug("sms accepted", zap.String("id", m.ID), zap.String("kind", string(m.Kind)), zap.Int("status", a.StatusCode))
		return nil
	case a.Temporary():
		return s.errorf(m, "answer %s", a.Status)
	default:
		return s.errorf(m, "answer %s: %w", a.Status, ErrPermanent)
	}
}

package alertsink

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/router"
)

// Header names of a webhook request. The timestamp and signature headers
// are those of tousu's inbound webhooks.
const (
	HeaderNoticeID  = "X-Tousu-Notice-ID"
	HeaderTimestamp = webhook.HeaderTimestamp
	HeaderSignature = webhook.HeaderSignature
)

// ErrBadSignature is wrapped by every error of VerifySignature.
var ErrBadSignature = errors.New("bad signature")

// VerifySignature checks the X-Tousu-Signature header value sig of a
// request with the X-Tousu-Timestamp header value timestamp and the raw
// body: sig must be "sha256=" followed by the hex HMAC-SHA256 under secret
// of timestamp + "." + body. The comparison takes constant time. It does
// not judge the timestamp's age: a receiver should also refuse timestamps
// far from its clock (tousu's inbound webhooks allow ±5 minutes).
func VerifySignature(secret []byte, timestamp string, body []byte, sig string) error {
	if timestamp == "" || sig == "" {
		return fmt.Errorf("missing timestamp or signature: %w", ErrBadSignature)
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return fmt.Errorf("signature is not sha256=<hex>: %w", ErrBadSignature)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(webhook.Sign(secret, timestamp, body), "sha256="))
	if !hmac.Equal(got, want) {
		return fmt.Errorf("signature does not match: %w", ErrBadSignature)
	}
	return nil
}

// Webhook is the sink that POSTs each notice as JSON (router.Notice's
// encoding) to a URL, with the headers
//
//	Content-Type: application/json; charset=utf-8
//	X-Tousu-Notice-ID: <notice id, for the receiver to drop repeats>
//	X-Tousu-Timestamp: <unix seconds>
//	X-Tousu-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// (no signature header when it has no secret). A 2xx answer is delivery;
// 408, 429, 5xx, timeouts and network errors are transient errors; any
// other answer, redirects included (they are not followed), is permanent
// (wraps ErrPermanent). At most MaxResponseBytes of the answer are read.
// Create it with NewWebhook; it is safe for concurrent use. It does not
// filter: a Dispatcher applies the webhook's filter.
type Webhook struct {
	url         string
	host        string
	secret      []byte
	timeout     time.Duration
	omitExcerpt bool
	client      *http.Client
	log         *zap.Logger
	now         func() time.Time
	maxResponse int64
}

// NewWebhook returns a webhook sink for cfg, provisioned
// (WebhookConfig.Provision), with the URL in cfg.URL and
// the given signing secret (nil to send unsigned requests; cfg.SecretEnv
// and cfg.URLEnv are not read: New reads them). client nil means a client
// that follows no redirects. logger should carry a component field.
func NewWebhook(cfg WebhookConfig, secret []byte, client *http.Client, logger *zap.Logger) (*Webhook, error) {
	if err := httppost.CheckURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("alertsink: webhook %s: url: %w", cfg.Name, err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("alertsink: webhook %s: negative timeout", cfg.Name)
	}
	if client == nil {
		client = httppost.NewClient()
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	u, _ := url.Parse(cfg.URL)
	return &Webhook{
		url: cfg.URL, host: u.Host, secret: secret, timeout: cfg.Timeout, omitExcerpt: cfg.OmitExcerpt,
		client: client, log: logger.With(zap.String("sink", cfg.Name)), now: time.Now, maxResponse: MaxResponseBytes,
	}, nil
}

// newWebhookFromEnv reads the URL of a validated cfg, the i-th webhook,
// from the environment, and its secret unless it was resolved.
func newWebhookFromEnv(i int, cfg WebhookConfig, client *http.Client, logger *zap.Logger) (*Webhook, error) {
	at := fmt.Sprintf("webhooks[%d]", i)
	if cfg.URLEnv != "" {
		cfg.URL = strings.TrimSpace(os.Getenv(cfg.URLEnv))
		if cfg.URL == "" {
			return nil, fmt.Errorf("alertsink: %s.url_env: the environment variable %s is not set", at, cfg.URLEnv)
		}
		if err := httppost.CheckURL(cfg.URL); err != nil {
			return nil, fmt.Errorf("alertsink: %s.url_env: the URL in %s: %w", at, cfg.URLEnv, err)
		}
	}
	var key []byte
	if !cfg.Unsigned {
		if err := cfg.Secret.Resolve("", nil); err != nil {
			return nil, fmt.Errorf("alertsink: %s.secret_env: %w", at, err)
		}
		s := strings.TrimSpace(cfg.Secret.Reveal())
		if len(s) < webhook.MinSecretBytes {
			return nil, fmt.Errorf("alertsink: %s.secret_env: the secret in %s must be at least %d bytes", at, cfg.SecretEnv, webhook.MinSecretBytes)
		}
		key = []byte(s)
	}
	return NewWebhook(cfg, key, client, logger)
}

// Deliver POSTs n, masked (see Masked), and waits for the answer, at most
// the webhook's timeout.
// Errors name the URL's host, never the rest of the URL or the answer's
// body (a Dispatcher adds the webhook's name).
func (w *Webhook) Deliver(ctx context.Context, n router.Notice) error {
	n = Masked(n)
	if w.omitExcerpt {
		n.Excerpt = ""
	}
	body, err := json.Marshal(n)
	if err != nil {
		return w.errorf("encode notice %s: %v: %w", n.ID, err, ErrPermanent)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	ts := strconv.FormatInt(w.now().Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "tousu-alertsink/1")
	h.Set(HeaderNoticeID, n.ID)
	h.Set(HeaderTimestamp, ts)
	if w.secret != nil {
		h.Set(HeaderSignature, webhook.Sign(w.secret, ts, body))
	}
	// The answer's content is not kept (it may echo the notice).
	a, err := httppost.Post(ctx, w.client, w.url, h, body, w.maxResponse)
	switch {
	case err != nil:
		return w.errorf("post notice %s: %w", n.ID, err)
	case a.OK():
		w.log.Debug("alert delivered", zap.String("id", n.ID), zap.Int("status", a.StatusCode))
		return nil
	case a.Temporary():
		return w.errorf("notice %s: answer %s", n.ID, a.Status)
	default:
		return w.errorf("notice %s: answer %s: %w", n.ID, a.Status, ErrPermanent)
	}
}

func (w *Webhook) errorf(format string, args ...any) error {
	return fmt.Errorf("POST to %s: "+format, append([]any{w.host}, args...)...)
}

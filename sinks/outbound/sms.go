package outbound

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/router"
)

// MaxResponseBytes is how much of an SMS provider's answer is read.
const MaxResponseBytes = 64 << 10

// NewSMS returns the SMS Transport cfg describes, or nil when cfg names no
// provider. cfg must be provisioned (SMSConfig.Provision); secrets not yet
// resolved (SMSConfig.ResolveSecrets) are read from their files or the
// process environment. client nil means a client that follows no
// redirects. logger should carry a component field. Errors name the key
// path, never a secret.
func NewSMS(cfg SMSConfig, client *http.Client, logger *zap.Logger) (Transport, error) {
	if err := cfg.ResolveSecrets("", nil); err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if client == nil {
		client = httppost.NewClient()
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	var (
		t   Transport
		err error
	)
	switch cfg.Provider {
	case ProviderAliyun:
		t, err = NewAliyun(cfg.Aliyun, client, logger)
	case ProviderHTTP:
		t, err = NewSMSHTTP(cfg.HTTP, client, logger)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// endpoint is an HTTP API an SMS transport posts to: its URL (which may
// hold a token), the host its errors name instead, its timeout and client.
type endpoint struct {
	url     string
	host    string
	timeout time.Duration
	client  *http.Client
	log     *zap.Logger
	now     func() time.Time
}

func newEndpoint(rawURL string, timeout time.Duration, client *http.Client, logger *zap.Logger) (endpoint, error) {
	if err := httppost.CheckURL(rawURL); err != nil {
		return endpoint{}, err
	}
	u, _ := url.Parse(rawURL)
	if client == nil {
		client = httppost.NewClient()
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return endpoint{url: rawURL, host: u.Host, timeout: timeout, client: client, log: logger, now: time.Now}, nil
}

// post sends body with header, waiting at most the endpoint's timeout.
func (e endpoint) post(ctx context.Context, header http.Header, body []byte) (httppost.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	return httppost.Post(ctx, e.client, e.url, header, body, MaxResponseBytes)
}

// errorf returns an error for message m naming the endpoint's host, the
// message's id and kind, never its recipient.
func (e endpoint) errorf(m router.Outgoing, format string, args ...any) error {
	return fmt.Errorf("sms %s (%s) to %s: "+format, append([]any{m.ID, m.Kind, e.host}, args...)...)
}

// mainlandMobile returns the 11 national digits of a mainland China
// mobile number given in E.164 (+8613812345678), as Chinese SMS providers
// take it, and whether it is one.
func mainlandMobile(e164 string) (string, bool) {
	n, ok := strings.CutPrefix(e164, "+86")
	if !ok || len(n) != 11 || n[0] != '1' || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	return n, true
}

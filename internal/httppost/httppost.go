// Package httppost sends one JSON request to a receiver whose URL may be
// a secret (a chat robot's token, a relay's path) and classifies the
// answer the way every outgoing call of tousu does: 2xx is accepted; 408,
// 429, 5xx, timeouts and network errors are worth retrying; any other
// answer, redirects included, is final. The alert webhooks and robots
// (sinks/alertsink) and the SMS senders (sinks/outbound) share it.
package httppost

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// Answer is what a receiver answered: the status line and at most the
// first max bytes of the body.
type Answer struct {
	StatusCode int
	Status     string
	Body       []byte
}

// OK reports a 2xx answer.
func (a Answer) OK() bool { return a.StatusCode >= 200 && a.StatusCode <= 299 }

// Temporary reports an answer worth retrying: 408, 429 or 5xx.
func (a Answer) Temporary() bool {
	return a.StatusCode == http.StatusRequestTimeout || a.StatusCode == http.StatusTooManyRequests || a.StatusCode >= 500
}

// NewClient returns a client for such calls: the default transport (which
// honours HTTPS_PROXY), no redirects followed and no client-wide timeout
// (each call brings its own through ctx).
func NewClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Post sends body to rawURL with method POST and the given header (a
// Content-Type included) and reads at most max bytes of the answer, so that
// the connection can be reused. It blocks until the answer was read or ctx
// ended. The error (building the request, the network, the context) never
// contains the URL, which may hold a token: it wraps only the cause, so
// errors.Is finds context.DeadlineExceeded. An answer whose body could not
// be read completely is returned with what was read and no error: the
// status line is what counts.
func Post(ctx context.Context, client *http.Client, rawURL string, header http.Header, body []byte, max int64) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Answer{}, errors.New("the request cannot be built")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error repeats the whole URL, token included: keep
		// only its cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, max))
	return Answer{StatusCode: resp.StatusCode, Status: resp.Status, Body: b}, nil
}

// CheckURL accepts an absolute http or https URL with a host. Its errors
// never contain the URL.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("the scheme must be http or https")
	case u.Host == "":
		return errors.New("the URL has no host")
	}
	return nil
}

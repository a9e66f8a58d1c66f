package alertsink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/router"
)

// MaxRobotBytes bounds a robot message's markdown: WeCom takes at most
// 4096 bytes of UTF-8, DingTalk a little more.
const MaxRobotBytes = 4096

// robotTemporary lists the errcodes of each robot kind worth retrying:
// DingTalk's "send too fast" (130101, 20 messages a minute, then 10
// minutes of silence; 410100) and "system busy" (-1); WeCom's "api freq
// out of limit" (45009) and "system busy" (-1). Every other non-zero
// errcode is final: a bad signature, keyword or IP (DingTalk 310000), a
// token that does not exist or a robot that was removed (DingTalk 300001,
// 400101, 400102; WeCom 93000 "invalid webhook url").
var robotTemporary = map[string][]int{
	RobotDingTalk: {-1, 130101, 410100},
	RobotWeCom:    {-1, 45009},
}

// Robot is the sink that posts each notice to a DingTalk or WeCom group
// robot as a Chinese markdown message (see RobotMessage), masked (see
// Masked). A DingTalk robot with a signing secret gets the timestamp and
// sign query parameters (see DingTalkSign). The robot answers HTTP 200
// with an errcode: 0 is delivery; the rate-limit and busy codes, 408,
// 429, 5xx, timeouts and network errors are transient; every other code
// or answer wraps ErrPermanent. Create it with NewRobot; it is safe for
// concurrent use. It does not filter: a Dispatcher applies the robot's
// filter.
type Robot struct {
	kind        string
	url         *url.URL
	secret      string
	timeout     time.Duration
	omitExcerpt bool
	consoleURL  string
	client      *http.Client
	log         *zap.Logger
	now         func() time.Time
}

// NewRobot returns the robot sink for cfg, provisioned, with its URL and
// secret resolved; consoleURL is Config.ConsoleURL. client nil means a
// client that follows no redirects. logger should carry a component
// field.
func NewRobot(cfg RobotConfig, consoleURL string, client *http.Client, logger *zap.Logger) (*Robot, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("alertsink: robot %s: %w", cfg.Name, err)
	}
	if !cfg.URL.Known() || (cfg.Secret.IsSet() && !cfg.Secret.Known()) {
		return nil, fmt.Errorf("alertsink: robot %s: the url or the secret is not resolved", cfg.Name)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("alertsink: robot %s: negative timeout", cfg.Name)
	}
	if client == nil {
		client = httppost.NewClient()
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	u, _ := url.Parse(strings.TrimSpace(cfg.URL.Reveal()))
	return &Robot{
		kind: cfg.Kind, url: u, secret: strings.TrimSpace(cfg.Secret.Reveal()), timeout: cfg.Timeout,
		omitExcerpt: cfg.OmitExcerpt, consoleURL: strings.TrimRight(consoleURL, "/"), client: client,
		log: logger.With(zap.String("sink", cfg.Name)), now: time.Now,
	}, nil
}

// robotAnswer is the JSON answer of both robots.
type robotAnswer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Deliver posts n and waits for the answer, at most the robot's timeout.
// Errors name the robot's host, never its token or the secret.
func (r *Robot) Deliver(ctx context.Context, n router.Notice) error {
	n = Masked(n)
	if r.omitExcerpt {
		n.Excerpt = ""
	}
	title, text := RobotMessage(n, r.consoleURL)
	var payload any
	target := *r.url
	switch r.kind {
	case RobotDingTalk:
		payload = map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": title, "text": text}}
		if r.secret != "" {
			ts := r.now().UnixMilli()
			q := target.Query()
			q.Set("timestamp", strconv.FormatInt(ts, 10))
			q.Set("sign", DingTalkSign(r.secret, ts))
			target.RawQuery = q.Encode()
		}
	default:
		payload = map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": text}}
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return r.errorf("encode notice %s: %v: %w", n.ID, err, ErrPermanent)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "tousu-alertsink/1")
	a, err := httppost.Post(ctx, r.client, target.String(), h, body.Bytes(), MaxResponseBytes)
	if err != nil {
		return r.errorf("post notice %s: %w", n.ID, err)
	}
	var ans robotAnswer
	if jsonErr := json.Unmarshal(a.Body, &ans); !a.OK() || jsonErr != nil || ans.ErrCode == nil {
		switch {
		case a.Temporary() || a.OK():
			// A 2xx that is not the robot's answer: a proxy's page.
			return r.errorf("notice %s: answer %s", n.ID, a.Status)
		default:
			return r.errorf("notice %s: answer %s: %w", n.ID, a.Status, ErrPermanent)
		}
	}
	switch code := *ans.ErrCode; {
	case code == 0:
		r.log.Debug("alert delivered", zap.String("id", n.ID))
		return nil
	case slices.Contains(robotTemporary[r.kind], code):
		return r.errorf("notice %s: errcode %d (%s)", n.ID, code, oneLine(ans.ErrMsg))
	default:
		return r.errorf("notice %s: errcode %d (%s): %w", n.ID, code, oneLine(ans.ErrMsg), ErrPermanent)
	}
}

func (r *Robot) errorf(format string, args ...any) error {
	return fmt.Errorf("%s robot at %s: "+format, append([]any{r.kind, r.url.Host}, args...)...)
}

// oneLine returns the first 200 bytes of s on one line.
func oneLine(s string) string {
	return cut(flat(s), 200)
}

// DingTalkSign returns the sign query parameter of a DingTalk robot
// request at timestampMillis (milliseconds since the epoch), before URL
// encoding: base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).
func DingTalkSign(secret string, timestampMillis int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// RobotMessage returns the title and the markdown text of a group-chat
// message for n (which should be masked): what happened, 级别, 工单
// (linked to its console page under consoleURL when it is set), 时限,
// 原因, 依据, the route and the excerpt, in Chinese (see describe), with
// the notice's own texts stripped of markdown (they cannot inject links
// or headings). The text is at most MaxRobotBytes long.
func RobotMessage(n router.Notice, consoleURL string) (title, text string) {
	caseRef := func(id string) string {
		if consoleURL == "" {
			return plain(id)
		}
		return "[" + plain(id) + "](" + casePage(consoleURL, id) + ")"
	}
	m := describe(n, plain, caseRef)
	var b strings.Builder
	b.WriteString("#### " + m.heading + "\n")
	for _, f := range m.fields {
		fmt.Fprintf(&b, "- **%s**：%s\n", f.label, f.value)
	}
	if n.Excerpt != "" {
		b.WriteString("\n> " + plain(n.Excerpt) + "\n")
	}
	if consoleURL != "" && n.Case != "" {
		b.WriteString("\n[在控制台查看工单](" + casePage(consoleURL, n.Case) + ")\n")
	}
	return cut(m.title, 64), cut(b.String(), MaxRobotBytes)
}

// markdownChars are replaced by their full-width forms in a notice's own
// texts, and line breaks by spaces, so that they cannot make links,
// images, headings, quotes, tables, code or HTML. Emphasis is harmless
// and a masked number's * stay as they are.
var markdownChars = strings.NewReplacer(
	"[", "［", "]", "］", "<", "＜", ">", "＞", "`", "｀", "#", "＃", "|", "｜", "\\", "＼", "\r", " ", "\n", " ")

func plain(s string) string { return markdownChars.Replace(s) }

// cut returns s cut to at most max bytes on a rune boundary, ended with
// "…" when cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	end := max - len("…")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}

package alertsink

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
)

const (
	dingToken  = "9c1f6e0b2d7a4e5f8a3b6c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f"
	dingSecret = "SEC4d2b7f0e9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3"
	weComKey   = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
)

// chatRobot is a test DingTalk or WeCom robot endpoint: it checks the
// request as the robot does (path, token, signature, message type) and
// answers with the robot's JSON.
type chatRobot struct {
	tb     testing.TB
	kind   string
	now    time.Time
	mu     sync.Mutex
	answer string // the JSON answer to a well-formed request
	status int
	bodies []map[string]any
}

func (c *chatRobot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		c.tb.Errorf("%s robot: body %s (%v), content type %q", c.kind, raw, err, r.Header.Get("Content-Type"))
	}
	answer := func(s string) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, s)
	}
	switch c.kind {
	case RobotDingTalk:
		if r.URL.Path != "/robot/send" || q.Get("access_token") != dingToken {
			answer(`{"errcode":300001,"errmsg":"token is not exist"}`)
			return
		}
		// The sign, computed independently of DingTalkSign.
		m := hmac.New(sha256.New, []byte(dingSecret))
		m.Write([]byte(q.Get("timestamp") + "\n" + dingSecret))
		// DingTalk accepts a timestamp within an hour of its clock.
		ts, _ := strconv.ParseInt(q.Get("timestamp"), 10, 64)
		if q.Get("sign") != base64.StdEncoding.EncodeToString(m.Sum(nil)) || time.UnixMilli(ts).Sub(c.now).Abs() > time.Hour {
			answer(`{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`)
			return
		}
	case RobotWeCom:
		if r.URL.Path != "/cgi-bin/webhook/send" || q.Get("key") != weComKey {
			answer(`{"errcode":93000,"errmsg":"invalid webhook url, hint: [1741166400_7_8d3f0c2b], from ip: 10.8.0.12, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`)
			return
		}
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, body)
	status, ans := c.status, c.answer
	c.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
	}
	answer(ans)
}

func (c *chatRobot) received() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.bodies...)
}

// newChatRobot starts a robot of kind answering answer and returns it
// with the webhook URL a group owner would copy.
func newChatRobot(tb testing.TB, kind, answer string) (*chatRobot, string) {
	tb.Helper()
	c := &chatRobot{tb: tb, kind: kind, now: t0, answer: answer}
	srv := httptest.NewServer(c)
	tb.Cleanup(srv.Close)
	if kind == RobotDingTalk {
		return c, srv.URL + "/robot/send?access_token=" + dingToken
	}
	return c, srv.URL + "/cgi-bin/webhook/send?key=" + weComKey
}

func newTestRobot(tb testing.TB, cfg RobotConfig, consoleURL string) *Robot {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "robot"
	}
	c := Config{Robots: []RobotConfig{cfg}}
	c.Provision()
	r, err := NewRobot(c.Robots[0], consoleURL, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r.now = func() time.Time { return t0 }
	return r
}

func markdown(tb testing.TB, body map[string]any, key string) string {
	tb.Helper()
	if body["msgtype"] != "markdown" {
		tb.Fatalf("msgtype %v", body["msgtype"])
	}
	md, _ := body["markdown"].(map[string]any)
	s, ok := md[key].(string)
	if !ok {
		tb.Fatalf("markdown.%s missing: %v", key, body)
	}
	return s
}

func TestDingTalkRobotSignedMarkdown(t *testing.T) {
	bot, u := newChatRobot(t, RobotDingTalk, `{"errcode":0,"errmsg":"ok"}`)
	r := newTestRobot(t, RobotConfig{Kind: RobotDingTalk, URL: secret.Inline(u), Secret: secret.Inline(dingSecret)}, "https://tousu.example.com/")
	if err := r.Deliver(context.Background(), escalation()); err != nil {
		t.Fatal(err)
	}
	got := bot.received()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	title, text := markdown(t, got[0], "title"), markdown(t, got[0], "text")
	if title != "升级预警 · 第 2 级 · 工单 TS1" {
		t.Errorf("title %q", title)
	}
	for _, want := range []string{
		"#### 【升级预警】工单 TS1",
		"- **级别**：第 2 级",
		"- **工单**：[TS1](https://tousu.example.com/console/cases/TS1)",
		"- **时限**：reply，2025-03-04 17:29 到期，已超时",
		"- **通知**：部门负责人、质量总监",
		"- **原因**：the reply clock is breached",
		"- **依据**：第十条",
		"- **处理**：客服部 / complaints / agent7",
		"> 我的手机号138****5678一直没有信号，请联系我",
		"[在控制台查看工单](https://tousu.example.com/console/cases/TS1)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "13812345678") {
		t.Errorf("the text shows the number:\n%s", text)
	}
}

func TestDingTalkRobotWithoutSecret(t *testing.T) {
	// A robot secured by keywords: no timestamp or sign; the test robot
	// then refuses with 310000, as DingTalk refuses a bad signature.
	_, u := newChatRobot(t, RobotDingTalk, `{"errcode":0,"errmsg":"ok"}`)
	err := newTestRobot(t, RobotConfig{Kind: RobotDingTalk, URL: secret.Inline(u)}, "").Deliver(context.Background(), escalation())
	if outcome(err) != "permanent" || !strings.Contains(err.Error(), "310000") {
		t.Fatalf("Deliver = %v, want permanent 310000", err)
	}
	if strings.Contains(err.Error(), dingToken) {
		t.Fatalf("the error shows the token: %v", err)
	}
}

func TestWeComRobotMarkdown(t *testing.T) {
	bot, u := newChatRobot(t, RobotWeCom, `{"errcode":0,"errmsg":"ok"}`)
	r := newTestRobot(t, RobotConfig{Kind: RobotWeCom, URL: secret.Inline(u), OmitExcerpt: true}, "")
	batch := router.Notice{V: 1, ID: "batch:PL0305", Kind: router.NoticeBatch, At: t0, Batch: "PL0305",
		Cases: []string{"TS20250304-0001", "TS20250304-0002", "TS20250304-0003"}, Customers: 3,
		Category: "宽带断网", Excerpt: "张江路88弄整栋楼宽带断了 联系13912345678", Reason: "3 位客户 2 小时内投诉同一小区断网", Basis: "批量投诉认定"}
	if err := r.Deliver(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	got := bot.received()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	content := markdown(t, got[0], "content")
	for _, want := range []string{"#### 【批量投诉】PL0305", "- **规模**：3 件工单，3 位客户", "- **工单**：TS20250304-0001、TS20250304-0002、TS20250304-0003", "- **分类**：宽带断网", "- **时间**：2025-03-04 17:30"} {
		if !strings.Contains(content, want) {
			t.Errorf("the content lacks %q:\n%s", want, content)
		}
	}
	if strings.Contains(content, "张江路") || strings.Contains(content, "](") {
		t.Errorf("omit_excerpt and no console URL, but:\n%s", content)
	}
	if _, ok := got[0]["markdown"].(map[string]any)["title"]; ok {
		t.Error("a WeCom markdown has no title")
	}
}

func TestRobotAnswers(t *testing.T) {
	tests := []struct {
		kind   string
		status int
		answer string
		want   string
	}{
		{RobotDingTalk, 200, `{"errcode":0,"errmsg":"ok"}`, "ok"},
		{RobotDingTalk, 200, `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`, "transient"},
		{RobotDingTalk, 200, `{"errcode":410100,"errmsg":"发送速度太快而限流"}`, "transient"},
		{RobotDingTalk, 200, `{"errcode":-1,"errmsg":"系统繁忙"}`, "transient"},
		{RobotDingTalk, 200, `{"errcode":310000,"errmsg":"keywords not in content"}`, "permanent"},
		{RobotDingTalk, 200, `{"errcode":310000,"errmsg":"ip 10.8.0.12 not in whitelist"}`, "permanent"},
		{RobotDingTalk, 200, `{"errcode":400102,"errmsg":"机器人已停用"}`, "permanent"},
		{RobotDingTalk, 502, `<html>502 Bad Gateway</html>`, "transient"},
		{RobotDingTalk, 200, `<html>系统维护中</html>`, "transient"},
		{RobotDingTalk, 403, `<html>Forbidden</html>`, "permanent"},
		{RobotWeCom, 200, `{"errcode":0,"errmsg":"ok"}`, "ok"},
		{RobotWeCom, 200, `{"errcode":45009,"errmsg":"api freq out of limit, hint: [1741166400_7_8d3f0c2b]"}`, "transient"},
		{RobotWeCom, 200, `{"errcode":-1,"errmsg":"system busy"}`, "transient"},
		{RobotWeCom, 200, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1741166400_7_8d3f0c2b]"}`, "permanent"},
		{RobotWeCom, 200, `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096. invalid Request Parameter"}`, "permanent"},
		{RobotWeCom, 429, ``, "transient"},
		{RobotWeCom, 200, `{"errmsg":"ok"}`, "transient"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.answer, func(t *testing.T) {
			bot, u := newChatRobot(t, tt.kind, tt.answer)
			bot.status = tt.status
			cfg := RobotConfig{Kind: tt.kind, URL: secret.Inline(u)}
			if tt.kind == RobotDingTalk {
				cfg.Secret = secret.Inline(dingSecret)
			}
			err := newTestRobot(t, cfg, "").Deliver(context.Background(), escalation())
			if got := outcome(err); got != tt.want {
				t.Fatalf("%s (%v), want %s", got, err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), dingToken) || strings.Contains(err.Error(), weComKey) || strings.Contains(err.Error(), dingSecret)) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestRobotWrongTokenAndUnreachable(t *testing.T) {
	_, u := newChatRobot(t, RobotWeCom, `{"errcode":0,"errmsg":"ok"}`)
	wrong := strings.Replace(u, weComKey, "00000000-dead-beef-0000-000000000000", 1)
	err := newTestRobot(t, RobotConfig{Kind: RobotWeCom, URL: secret.Inline(wrong)}, "").Deliver(context.Background(), escalation())
	if outcome(err) != "permanent" || !strings.Contains(err.Error(), "93000") || strings.Contains(err.Error(), "dead-beef") {
		t.Fatalf("wrong key: %v", err)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	err = newTestRobot(t, RobotConfig{Kind: RobotDingTalk, URL: secret.Inline(down.URL + "/robot/send?access_token=" + dingToken), Secret: secret.Inline(dingSecret)}, "").
		Deliver(context.Background(), escalation())
	if outcome(err) != "transient" || strings.Contains(err.Error(), dingToken) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestRobotMessage(t *testing.T) {
	urge := router.Notice{V: 1, ID: "urge:TS7:C2", Kind: router.NoticeUrge, At: t0, Case: "TS7", Reference: "TS20250304-0107", Urgency: 3,
		Reason: "客户第3次来电催促（上次3/1说两天内处理）", Excerpt: "电话18612345678，我都打了三次了！！"}
	inject := escalation()
	inject.Reason = "点击[领取补偿](http://evil.example/x)\n# 紧急 <script>alert(1)</script> **加粗**"
	inject.Category = "资费_争议|套餐"
	long := escalation()
	long.Reason = strings.Repeat("工单处理超时，", 700)
	many := router.Notice{V: 1, ID: "batch:PL9", Kind: router.NoticeBatch, Batch: "PL9", Customers: 40}
	for i := range 40 {
		many.Cases = append(many.Cases, "TS"+strconv.Itoa(100+i))
	}
	tests := []struct {
		name    string
		n       router.Notice
		console string
		want    []string
		not     []string
	}{
		{"urge", Masked(urge), "https://tousu.example.com", []string{
			"#### 【催办】工单 TS7 收到重复投诉", "- **新投诉受理编号**：TS20250304-0107", "- **紧急程度**：3",
			"- **原因**：客户第3次来电催促（上次3/1说两天内处理）", "> 电话186****5678，我都打了三次了！！",
			"- **工单**：[TS7](https://tousu.example.com/console/cases/TS7)"}, []string{"18612345678"}},
		{"markdown in the notice stays text", inject, "", []string{
			"点击［领取补偿］(http://evil.example/x) ＃ 紧急 ＜script＞alert(1)＜/script＞ **加粗**", "- **分类**：资费_争议｜套餐"},
			[]string{"](http://evil", "<script", "\n# "}},
		{"batch of many", many, "", []string{"- **规模**：40 件工单，40 位客户", "TS109、等 40 件"}, []string{"TS110"}},
		{"escalation at 50%", func() router.Notice { n := escalation(); n.Step = "50%"; return n }(), "", []string{"时限已过 50%（预警）"}, nil},
		{"escalation after breach", func() router.Notice { n := escalation(); n.Step = "breach+1d"; return n }(), "", []string{"超时 1 天后"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, text := RobotMessage(tt.n, tt.console)
			checkText(t, text, tt.want, tt.not)
		})
	}
	title, text := RobotMessage(long, "")
	if len(text) > MaxRobotBytes || !utf8.ValidString(text) || !strings.HasSuffix(text, "…") || len(title) > 64 {
		t.Errorf("long text: %d bytes, valid %v, ends %q", len(text), utf8.ValidString(text), text[len(text)-10:])
	}
}

func TestNewBuildsRobots(t *testing.T) {
	ding, du := newChatRobot(t, RobotDingTalk, `{"errcode":0,"errmsg":"ok"}`)
	ding.now = time.Now() // New's robot signs with the clock
	wecom, wu := newChatRobot(t, RobotWeCom, `{"errcode":0,"errmsg":"ok"}`)
	t.Setenv("TEST_DINGTALK_URL", du)
	t.Setenv("TEST_DINGTALK_SECRET", dingSecret+"\n")
	t.Setenv("TEST_WECOM_URL", wu)
	cfg := Config{ConsoleURL: "https://tousu.example.com", Robots: []RobotConfig{
		{Name: "quality-ding", Kind: RobotDingTalk, URL: secret.Secret{Env: "TEST_DINGTALK_URL"}, Secret: secret.Secret{Env: "TEST_DINGTALK_SECRET"}, Kinds: []string{"escalation"}, MinLevel: 2},
		{Name: "ops-wecom", Kind: RobotWeCom, URL: secret.Secret{Env: "TEST_WECOM_URL"}, Kinds: []string{"urge", "batch"}},
	}}
	d, logs := newTestDispatcher(t, cfg)
	low := escalation()
	low.ID, low.Level = "esc:TS1:reply:50%", 1
	for _, n := range []router.Notice{escalation(), low, {V: 1, ID: "urge:TS2:C9", Kind: router.NoticeUrge, Case: "TS2"}} {
		if err := d.Deliver(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
	}
	if n, m := len(ding.received()), len(wecom.received()); n != 1 || m != 1 {
		t.Fatalf("dingtalk got %d, wecom %d; want 1 and 1", n, m)
	}
	for _, s := range []string{dingToken, dingSecret, weComKey} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("the log shows a secret: %s", logs.String())
		}
	}

	t.Setenv("TEST_WECOM_URL", "")
	if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "robots[1].url: the environment variable TEST_WECOM_URL is not set") {
		t.Fatalf("New without the URL: %v", err)
	}
}

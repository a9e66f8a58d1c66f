package main

import (
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/deadletters/deadletterstest"
	"github.com/tousu/tousu/services/httpapi"
)

// dlqServer serves the dead-letter API over a store holding a complaint
// of an unknown schema version and a quarantined mail, with an ops, an
// admin and an agent token; it returns its URL and what it replays.
func dlqServer(tb testing.TB) (string, func() []bus.Message) {
	tb.Helper()
	at := time.Date(2026, 12, 3, 9, 15, 0, 0, time.UTC)
	store, replayed := deadletterstest.Store(tb,
		bus.DeadLetter{V: bus.DeadLetterVersion, Topic: bus.TopicRaw, Partition: 2, Offset: 7, Key: []byte("webform:77"), Group: "tousu-normalizer",
			Reason:   "invalid envelope: schema version 2, want 1",
			Original: []byte(`{"v":2,"id":"webform:77","description":"12月1号交的300元话费到现在没到账，电话13712345678"}`), At: at},
		bus.DeadLetter{V: bus.DeadLetterVersion, Source: "imap:support", Key: []byte("imap:support:4:19"), Reason: "邮件无正文",
			Original: []byte("From: li.si@example.com\r\n\r\n"), At: at.Add(time.Hour)})
	base := serveAPI(tb, func(app *fiber.App, auth *httpapi.Authenticator) {
		httpapi.NewDeadLetters(store, auth, zap.NewNop()).Mount(app)
	})
	return base, replayed
}

// serveAPI serves what mount mounts on loopback until the test ends,
// with an ops, an admin and an agent token (ops-token-0123456789,
// admin-token-0123456789, agent-token-0123456789), and returns its URL.
func serveAPI(tb testing.TB, mount func(*fiber.App, *httpapi.Authenticator)) string {
	tb.Helper()
	auth := httpapi.NewAuthenticator(httpapi.AuthConfig{Tokens: []httpapi.Token{
		{Name: "liu.yunwei", Token: secret.Inline("ops-token-0123456789"), Role: httpapi.RoleOps},
		{Name: "bootstrap", Token: secret.Inline("admin-token-0123456789"), Role: httpapi.RoleAdmin},
		{Name: "zhang.wei", Token: secret.Inline("agent-token-0123456789"), Role: httpapi.RoleAgent},
	}})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	mount(app, auth)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go app.Listener(ln)
	tb.Cleanup(func() { app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestDlqCommands runs `tousu dlq` against the dead-letter API: list with
// counts and a filter, show masked to an admin and in full to ops, replay
// by id and by filter, once, and every mistake with its exit code and a
// Chinese message.
func TestDlqCommands(t *testing.T) {
	base, written := dlqServer(t)
	ops, admin, agent := []string{"TOUSU_TOKEN=ops-token-0123456789"}, []string{"TOUSU_TOKEN=admin-token-0123456789"}, []string{"TOUSU_TOKEN=agent-token-0123456789"}
	tests := []struct {
		args     []string
		environ  []string
		code     int
		want     []string
		unwanted []string
		replayed int
	}{
		{args: []string{"list"}, environ: ops, want: []string{"共 2 条死信", "按来源", "complaints.raw  1", "imap:support", "按原因", "invalid envelope",
			"0-1  imap:support", "0-0  complaints.raw", "2026-12-03 17:15", "未重放"}, unwanted: []string{"13712345678"}},
		{args: []string{"list", "-source", "imap:support"}, environ: admin, want: []string{"符合条件 1 条", "0-1"}, unwanted: []string{"0-0  "}},
		{args: []string{"list", "-limit", "0"}, environ: ops, code: 1, want: []string{"limit 须为 1 到 500 之间的整数（400）"}},
		{args: []string{"list"}, environ: agent, code: 1, want: []string{"需要运维（ops）或管理员令牌（403）"}},
		{args: []string{"show", "-id", "0-0"}, environ: admin, want: []string{"complaints.raw 分区 2 偏移 7", "已隐去", "137****5678", "tousu dlq replay -id 0-0"}, unwanted: []string{"13712345678"}},
		{args: []string{"show", "-id", "0-0"}, environ: ops, want: []string{"完整，本次查看已记录", "13712345678"}},
		{args: []string{"show", "-id", "0-1"}, environ: ops, want: []string{"没有来源主题"}},
		{args: []string{"show", "-id", "9-9"}, environ: ops, code: 1, want: []string{"没有这条死信", "（404）"}},
		{args: []string{"show"}, environ: ops, code: 2, want: []string{"缺少 -id", "`tousu dlq show -help`"}},
		{args: []string{"replay"}, environ: ops, code: 2, want: []string{"请用 -id 指定死信编号"}},
		{args: []string{"replay", "-id", "0-0", "-source", "complaints.raw"}, environ: ops, code: 2, want: []string{"只能选一种"}},
		{args: []string{"replay", "-id", "0-0，0-1"}, environ: ops, want: []string{"0-0  complaints.raw  已重放", "0-1", "无法重放", "已重放 1 条，共 2 条"}, replayed: 1},
		{args: []string{"replay", "-id", "0-0"}, environ: ops, want: []string{"此前已重放，未再发送", "已重放 0 条，共 1 条"}, replayed: 1},
		{args: []string{"replay", "-source", "complaints.raw"}, environ: admin, want: []string{"已重放 0 条，共 0 条"}, replayed: 1},
		{args: []string{"list"}, environ: ops, want: []string{"已重放（liu.yunwei）"}, replayed: 1},
		{args: []string{"replay", "-help"}, want: []string{"-id IDS", "tousu dlq replay -id 3-1742,0-88", "Exit codes"}, replayed: 1},
	}
	for _, tt := range tests {
		args := append([]string{"dlq"}, tt.args...)
		if tt.args[len(tt.args)-1] != "-help" {
			args = append(args, "-url", base, "-data", t.TempDir())
		}
		runAndCheck(t, args, tt.environ, tt.code, tt.want, tt.unwanted)
		if n := len(written()); n != tt.replayed {
			t.Errorf("tousu %q: %d records replayed so far, want %d", args, n, tt.replayed)
		}
	}
}

package main

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/privacy"
	"github.com/tousu/tousu/sinks/bleveindex"
)

// privacyServer serves the privacy API over a Bleve index holding two
// cases of 钱小红 and one of another customer, with an admin and an agent
// token; it returns its URL and the erase actions sent.
func privacyServer(tb testing.TB) (string, func() []router.Action) {
	tb.Helper()
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(tb.TempDir(), "cases.bleve")}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	qian := normalize.Customer{Name: "钱小红", Phone: "+8613987654321", Email: "qianxh@example.cn", Key: "phone:+8613987654321"}
	mk := func(id string, cu normalize.Customer, text string) router.Case {
		return router.Case{V: router.SchemaVersion, ID: id, Revision: 3, References: []string{id}, Channel: ingest.ChannelWebForm, Customer: cu,
			Description: text, Category: "网络质量", Status: router.StatusOpen, ReceivedAt: at, UpdatedAt: at}
	}
	cases := []router.Case{
		mk("TS0000000A01", qian, "12月1号起宽带断网，身份证11010519491231002X"),
		mk("TS0000000A02", qian, "营业厅说线路改造"),
		mk("TS0000000B01", normalize.Customer{Name: "孙大伟", Phone: "+8613700001111", Key: "phone:+8613700001111"}, "小区宽带全部断网"),
	}
	if err := idx.Upsert(context.Background(), cases); err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var sent []router.Action
	service := privacy.New(privacy.Deps{Index: idx, Logger: zap.NewNop(), Publish: func(_ context.Context, a router.Action) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, a)
		return nil
	}})
	base := serveAPI(tb, func(app *fiber.App, auth *httpapi.Authenticator) {
		httpapi.NewPrivacy(service, auth, zap.NewNop()).Mount(app)
	})
	return base, func() []router.Action {
		mu.Lock()
		defer mu.Unlock()
		return append([]router.Action(nil), sent...)
	}
}

// TestPrivacyCommands runs `tousu privacy` against the privacy API:
// export by each selector, erase with its reason, and every mistake with
// its exit code and a Chinese message.
func TestPrivacyCommands(t *testing.T) {
	base, sent := privacyServer(t)
	admin, agent := []string{"TOUSU_TOKEN=admin-token-0123456789"}, []string{"TOUSU_TOKEN=agent-token-0123456789"}
	tests := []struct {
		args     []string
		environ  []string
		code     int
		want     []string
		unwanted []string
		erased   int
	}{
		{args: []string{"export", "-phone", "139 8765 4321"}, environ: admin, want: []string{`"selector": "phone:139****4321"`, "TS0000000A01", "TS0000000A02", "11010519491231002X"},
			unwanted: []string{"TS0000000B01"}},
		{args: []string{"export", "-reference", "TS0000000A02"}, environ: admin, want: []string{"TS0000000A01", "TS0000000A02"}, unwanted: []string{"孙大伟"}},
		{args: []string{"export", "-email", "qianxh@example.cn"}, environ: admin, want: []string{"TS0000000A01"}},
		{args: []string{"export", "-id-number", "110105 19491231 002x"}, environ: admin, want: []string{"TS0000000A01"}, unwanted: []string{"TS0000000A02"}},
		{args: []string{"export", "-id-number", "12345"}, environ: admin, code: 1, want: []string{"身份证号码格式不正确（422）"}},
		{args: []string{"export", "-phone", "13987654321"}, environ: agent, code: 1, want: []string{"不是管理员令牌（403）"}},
		{args: []string{"export"}, environ: admin, code: 2, want: []string{"请用 -phone、-email、-id-number 或 -reference 之一指定客户"}},
		{args: []string{"export", "-phone", "13987654321", "-email", "qianxh@example.cn"}, environ: admin, code: 2, want: []string{"只能一个"}},
		{args: []string{"erase", "-phone", "13987654321"}, environ: admin, code: 2, want: []string{"缺少 -reason"}},
		{args: []string{"erase", "-phone", "13987654321", "-reason", "客户12月6日来电申请删除"}, environ: admin,
			want: []string{"已提交删除：2 个工单", "TS0000000A01", "TS0000000A02"}, erased: 2},
		{args: []string{"erase", "-help"}, want: []string{"-reason", "tousu privacy erase -phone 13987654321", "Exit codes"}, erased: 2},
	}
	for _, tt := range tests {
		args := append([]string{"privacy"}, tt.args...)
		if tt.args[len(tt.args)-1] != "-help" {
			args = append(args, "-url", base, "-data", t.TempDir())
		}
		runAndCheck(t, args, tt.environ, tt.code, tt.want, tt.unwanted)
		if n := len(sent()); n != tt.erased {
			t.Errorf("tousu %q: %d erase actions so far, want %d", args, n, tt.erased)
		}
	}
	for _, a := range sent() {
		if a.Kind != router.ActionErase || a.Reason != router.ErasureRequest || a.Actor != "bootstrap" || a.ID != "erase/"+a.Case ||
			a.Customer != "phone:+8613987654321" || a.Snapshot == nil || a.Snapshot.Customer.Phone != "" || a.Note != "客户12月6日来电申请删除" {
			t.Errorf("erase action %+v", a)
		}
	}
}

package imap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
)

// realMail is a fixture in testdata: mail as real mailers send it, with
// the header, encoding and charset faults of the wild.
type realMail struct {
	file    string
	subject string
	from    string
	textHas []string
	// warnings are fragments that must each appear in one warning; none
	// means there must be no warning at all.
	warnings []string
	// quarantine is a fragment of the reason when the mail must be
	// quarantined (it is truly unreadable or no complaint).
	quarantine string
}

var realMails = []realMail{
	{file: "xscript-header-gb18030-base64.eml", subject: "宽带12月1日起断网，报修3次无人上门", from: "liu.min@example.com",
		textHas:  []string{"工单号 GD20261201-0932，说好48小时内上门", "刘女士 13905710000"},
		warnings: []string{"邮件头：第 10 行不是合法的字段，已跳过：X-Script/function/"}},
	{file: "header-garbage-lines-gbk-qp.eml", subject: "物业乱收停车费", from: "zhangwei1988@example.cn",
		textHas:  []string{"每月多收停车费200元", "张伟 6栋2单元"},
		warnings: []string{"第 3 行不是合法的字段，已跳过：X-Mailer Foxmail", "第 4 行不是合法的字段，已跳过：备注: 来自手机客户端"}},
	{file: "continuation-first-line.eml", subject: "酒店退房多扣押金", from: "wang.fang@example.com",
		textHas:  []string{"扣了押金300元"},
		warnings: []string{"第 1 行是没有字段可接续的续行"}},
	{file: "overlong-header-big5.eml", subject: "汽車保養被多收費", from: "chen.cm@example.com.tw",
		textHas:  []string{"「節氣門清洗」", "新台幣1800元"},
		warnings: []string{"有字段超过 65536 字节，已截断"}},
	{file: "missing-blank-line.eml", subject: "快递丢件", from: "li.na@example.com",
		textHas:  []string{"运单号 SF1234567890", "请核实并赔偿"},
		warnings: []string{"缺少与正文之间的空行，第 5 行起按正文读取"}},
	{file: "bad-encoded-words.eml", subject: "电费计费=ZZ异\uFFFD", from: "zhaolei@example.com",
		textHas:  []string{"要求重新抄表"},
		warnings: []string{"主题：编码无法完全识别", "发件人：编码无法完全识别"}},
	{file: "multipart-no-closing-boundary.eml", subject: "装修质量问题", from: "sun.li@example.com",
		textHas:  []string{"卫生间墙面开裂渗水", "防水保修五年"},
		warnings: []string{"缺少结束分隔线"}},
	{file: "multipart-wrong-boundary.eml", subject: "手机刚买就黑屏", from: "zhou.jie@example.com",
		textHas:  []string{"第三天就黑屏开不了机，\n店里说要寄回厂家检测15个工作日"},
		warnings: []string{"声明的分隔线缺失或不符，已按正文中的分隔线拆分"}},
	{file: "multipart-boundary-param-missing.eml", subject: "保险理赔拖延", from: "qian.yu@example.com",
		textHas:  []string{"保单号 PDAA2026330100000123"},
		warnings: []string{"声明的分隔线缺失或不符"}},
	{file: "base64-declared-on-plain.eml", subject: "空调安装收费不合理", from: "feng.xue@example.com",
		textHas:  []string{"铜管加长费280元", "冯雪 2026-12-02"},
		warnings: []string{"声明为 base64 但内容不是"}},
	{file: "qp-broken-soft-breaks.eml", subject: "外卖超时还被骂", from: "he.jun@example.com",
		textHas:  []string{"外卖超时一个小时，骑手还骂人。", "订单号 20261203-5566。"},
		warnings: []string{"quoted-printable 编码有误"}},
	{file: "base64-trailing-garbage.eml", subject: "燃气表走字快", from: "zheng.hao@example.com",
		textHas:  []string{"燃气公司说要先交检测费。"},
		warnings: []string{"base64 编码有误"}},
	{file: "nul-bytes.eml", subject: "电梯困人", from: "nul.test@example.com",
		textHas:  []string{"3号楼电梯困人20分钟，物业电话没人接"},
		warnings: []string{"邮件头：含有 NUL 字节", "正文：含有 NUL 字节"}},
	{file: "utf8-label-gbk-body.eml", subject: "网购商品质量问题", from: "wu.jing@example.com",
		textHas:  []string{"洗一次就跑绒严重", "订单号 2026112812345"},
		warnings: []string{`字符集 "utf-8" 与内容不符`}},
	{file: "gb2312-label-gb18030-chars.eml", subject: "朱镕基路营业厅排队两小时", from: "zhu@example.com",
		textHas: []string{"朱镕基路营业厅只开一个窗口", "我的名字是朱㐀"}},
	{file: "latin1-label-gbk.eml", subject: "complaint", from: "hotel.guest@example.com",
		textHas:  []string{"酒店房间空调不制冷", "房号 1208"},
		warnings: []string{`字符集 "iso-8859-1" 与内容不符`}},
	{file: "forwarded-rfc822.eml", subject: "转发：退款一直不到账", from: "huang.li@example.com",
		textHas: []string{"客服说3个工作日到账", "订单号 TB20261115009"}},
	{file: "html-only-bad-meta.eml", subject: "健身房倒闭不退卡", from: "ma.chao@example.com",
		textHas:  []string{"健身房突然关门", "剩余金额2600元"},
		warnings: []string{`字符集 "utf-8" 与内容不符`}},
	{file: "big5-qp-multipart-clean.eml", subject: "飯店訂房被取消", from: "lin.mh@example.com.tw",
		textHas: []string{"已付訂金兩千元"}},
	{file: "unreadable-binary.eml", quarantine: "no header fields"},
	{file: "no-sender.eml", quarantine: "no sender address"},
}

// TestRealWorldMail reads each fixture through the mailbox's own path
// (parse, envelope, publish or quarantine): nothing that can be read is
// quarantined, every fault is a warning on the complaint, and what is
// quarantined keeps its reason and its original bytes.
func TestRealWorldMail(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(realMails) {
		t.Errorf("%d fixtures in testdata, %d in the table", len(files), len(realMails))
	}
	for _, rm := range realMails {
		t.Run(rm.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", rm.file))
			if err != nil {
				t.Fatal(err)
			}
			rec := processOne(t, raw)
			if rm.quarantine != "" {
				if len(rec.quarantined) != 1 || len(rec.published) != 0 {
					t.Fatalf("published %d, quarantined %d; want it quarantined", len(rec.published), len(rec.quarantined))
				}
				q := rec.quarantined[0]
				if !strings.Contains(q.Reason, rm.quarantine) || !bytes.Equal(q.Raw, raw) {
					t.Errorf("quarantined with reason %q and %d raw bytes; want %q and the %d original bytes", q.Reason, len(q.Raw), rm.quarantine, len(raw))
				}
				return
			}
			if len(rec.published) != 1 {
				t.Fatalf("published %d, quarantined %+v; want it published", len(rec.published), rec.quarantined)
			}
			env := rec.published[0]
			if env.Subject != rm.subject || env.Email != rm.from {
				t.Errorf("subject %q from %q; want %q from %q", env.Subject, env.Email, rm.subject, rm.from)
			}
			for _, s := range rm.textHas {
				if !strings.Contains(env.Description, s) {
					t.Errorf("description lacks %q:\n%s", s, env.Description)
				}
			}
			got := ingest.Warnings(env.Extra)
			if len(rm.warnings) == 0 && len(got) > 0 {
				t.Errorf("warnings %q; want none", got)
			}
			for _, w := range rm.warnings {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
					t.Errorf("no warning with %q in %q", w, got)
				}
			}
		})
	}
}

// realMailFiles returns the content of every fixture in testdata.
func realMailFiles(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// processOne hands raw to a mailbox's process step, as a poll does after
// fetching it, and returns what was published or quarantined.
func processOne(t testing.TB, raw []byte) *recorder {
	t.Helper()
	h := newHarness(t)
	cfg := Config{Mailboxes: []MailboxConfig{(&testServer{addr: "127.0.0.1:1"}).mailbox("support", "INBOX")}}
	cfg.Provision()
	r, err := New(cfg, h.dir, ingesttest.References(), h.rec.publish, h.rec.quarantine, h.store, h.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := Meta{Mailbox: "support", UIDValidity: 1, UID: 1, InternalDate: time.Date(2026, 12, 3, 9, 13, 0, 0, time.UTC)}
	if _, err := r.mailboxes[0].process(context.Background(), meta, raw); err != nil {
		t.Fatalf("process: %v", err)
	}
	return h.rec
}

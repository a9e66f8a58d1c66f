package router

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

func TestEraseText(t *testing.T) {
	tests := []struct {
		name, in string
		names    []string
		want     string
	}{
		{"mobile with spaces and a name", "客户王建国来电，手机 138 0013 8000，说12月3号宽带断了三天",
			[]string{"王建国"}, "客户［姓名已删除］来电，手机 ［号码已删除］，说12月3号宽带断了三天"},
		{"full-width digits and +86", "联系电话：＋86 １３９－１２３４－５６７８，下午打", nil, "联系电话：［号码已删除］，下午打"},
		{"landline with area code", "座机(010)8888-6666转分机，订单号202612031234567890123", nil,
			"座机(［号码已删除］转分机，订单号202612031234567890123"},
		{"id number and amount", "身份证440304198803122512，扣费128.50元是2026-11-30", nil, "身份证［号码已删除］，扣费128.50元是2026-11-30"},
		{"e-mail in a sentence", "回复发到 zhang.san+ts@corp.example.com.cn 就行", nil, "回复发到 ［邮箱已删除］ 就行"},
		{"address in a sentence", "我家住在北京市朝阳区建国路88号院3号楼2单元501室，宽带三天没网", nil,
			"［地址已删除］，宽带三天没网"},
		{"estate and building with full-width digits", "地址：幸福家园小区１２栋３０２，装维师傅没来", nil, "地址：［地址已删除］，装维师傅没来"},
		{"a road in sections", "家住成都市武侯区人民南路4段12号，回电", nil, "［地址已删除］，回电"},
		{"a date and a shop are no address", "11月3号在营业厅办的套餐，说好每月58元", nil, "11月3号在营业厅办的套餐，说好每月58元"},
		{"a name of one character stays", "王说的", []string{"王"}, "王说的"},
		{"idempotent", "［地址已删除］，电话［号码已删除］，［姓名已删除］", []string{"王建国"}, "［地址已删除］，电话［号码已删除］，［姓名已删除］"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EraseText(tt.in, tt.names...); got != tt.want {
				t.Errorf("EraseText(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// personalCase is a case full of a customer's personal information.
func personalCase(tb testing.TB) Case {
	tb.Helper()
	at := time.Date(2026, 3, 11, 9, 30, 0, 0, time.UTC)
	return Case{V: SchemaVersion, ID: "c-1", Revision: 7, References: []string{"TS0000000001"}, Channel: ingest.ChannelEmail,
		Customer: normalize.Customer{Name: "李秀英", Phone: "+8613800138000", Email: "lixiuying@example.cn", Key: "phone:+8613800138000"},
		Subject:  "李秀英投诉：宽带故障 13800138000",
		Description: "本人李秀英，身份证11010519491231002X，住上海市浦东新区张杨路500号1201室。宽带从3月8号起断网，" +
			"客服电话打了 5 次没人管，请回电 138-0013-8000 或发邮件 lixiuying@example.cn",
		Attachments: []ingest.Attachment{{Name: "李秀英-缴费单.jpg", Type: "image/jpeg", Size: 20480, SHA256: strings.Repeat("ab", 32)}},
		Category:    "网络质量", Status: StatusClosed, ReceivedAt: at, UpdatedAt: at.Add(72 * time.Hour),
		Pack: "telecom@1", ContactType: "投诉", Validity: Validity{Valid: true}, Grade: "一般",
		Route:     Route{Department: "网络部", Owner: "1001"},
		Deadlines: []Deadline{{Name: "reply", Due: at.Add(48 * time.Hour), StoppedAt: at.Add(30 * time.Hour), Met: true}},
		Contacts: []Contact{{Complaint: "cp-2", Reference: "TS0000000002", Kind: ContactReply, ReceivedAt: at.Add(time.Hour),
			Text: "我是她儿子张伟，电话13912345678", From: normalize.Customer{Name: "张伟", Email: "zhangwei@example.cn", Key: "email:zhangwei@example.cn"}}},
		MessageIDs: []string{"20260311093000.lixiuying@example.cn"},
		History: []Event{{Action: "a1", Kind: ActionNote, Actor: "1001", At: at.Add(2 * time.Hour), Note: "已致电李女士13800138000，客户称住张杨路500号1201室"},
			{Action: "a2", Kind: ActionClose, Actor: "1001", At: at.Add(72 * time.Hour), Note: "已修复"}},
	}
}

func TestErase(t *testing.T) {
	c := personalCase(t)
	e := Erasure{At: time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC), Reason: ErasureRetention, By: RetentionActor}
	got := Erase(c, e)

	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, personal := range []string{"李秀英", "13800138000", "0013", "lixiuying", "11010519491231002X", "张杨路", "张伟", "13912345678",
		"zhangwei", strings.Repeat("ab", 32), "缴费单"} {
		if strings.Contains(string(b), personal) {
			t.Errorf("the erased case still holds %q:\n%s", personal, b)
		}
	}
	if got.Customer.Key != ErasedCustomerKey(c.ID) || !normalize.Anonymous(got.Customer.Key) {
		t.Errorf("customer key %q, want the anonymous %q", got.Customer.Key, ErasedCustomerKey(c.ID))
	}
	if got.Erased == nil || *got.Erased != e {
		t.Errorf("erased %+v, want %+v", got.Erased, e)
	}
	// What statistics need stays.
	if got.Category != c.Category || got.Grade != c.Grade || !reflect.DeepEqual(got.Validity, c.Validity) || got.Channel != c.Channel || got.Route != c.Route ||
		!got.ReceivedAt.Equal(c.ReceivedAt) || got.Status != c.Status || got.Pack != c.Pack || len(got.Deadlines) != 1 || !got.Deadlines[0].Met ||
		len(got.History) != 2 || got.History[1].Kind != ActionClose || len(got.Attachments) != 1 || got.Attachments[0].Size != 20480 {
		t.Errorf("erasure lost what statistics need: %+v", got)
	}
	if !strings.Contains(got.Description, "宽带从3月8号起断网") {
		t.Errorf("description %q lost the complaint itself", got.Description)
	}
	// The case passed in is unchanged.
	if c.Contacts[0].Text != personalCase(t).Contacts[0].Text || c.History[0].Note != personalCase(t).History[0].Note || c.Attachments[0].SHA256 == "" {
		t.Error("Erase modified the case passed in")
	}
	// Erasing again keeps the first erasure.
	again := Erase(got, Erasure{At: e.At.Add(time.Hour), Reason: ErasureRequest, By: "admin"})
	if *again.Erased != e || again.Description != got.Description {
		t.Errorf("erasing twice changed the case: %+v", again.Erased)
	}
}

func TestEraseAction(t *testing.T) {
	e := miniEngine(t)
	received := at(t, "2025-09-30 10:00")
	open := e.Open(reachable("宽带断了，我住幸福家园小区12栋302，电话13800138000", received), received)
	a := act(open, "erase-1", ActionErase, "admin", received.Add(time.Hour))
	a.Reason, a.Note = ErasureRequest, "客户来电要求删除（13800138000）"
	got := apply(t, e, open, a)
	if got.Status != StatusClosed || got.Erased == nil || got.Erased.By != "admin" || got.Erased.Reason != ErasureRequest {
		t.Fatalf("erased case: status %s, erased %+v; want closed, erased by admin on request", got.Status, got.Erased)
	}
	for _, d := range got.Deadlines {
		if d.StoppedAt.IsZero() {
			t.Errorf("clock %s still runs on an erased case", d.Name)
		}
	}
	last := got.History[len(got.History)-1]
	if last.Kind != ActionErase || last.Note != "客户来电要求删除（［号码已删除］）" || !strings.Contains(last.Detail, "请求删除") {
		t.Errorf("history event %+v, want the erasure with its note erased", last)
	}
	b, _ := json.Marshal(got)
	for _, personal := range []string{"13800138000", "幸福家园", "0013"} {
		if strings.Contains(string(b), personal) {
			t.Errorf("the erased case still holds %q", personal)
		}
	}
}

package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// privacyCases are two cases of 钱小红 and one of another customer.
func privacyCases() []router.Case {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	qian := normalize.Customer{Name: "钱小红", Phone: "+8613987654321", Email: "qianxh@example.cn", Key: "phone:+8613987654321"}
	mk := func(id string, cu normalize.Customer, text string, st router.Status) router.Case {
		return router.Case{V: router.SchemaVersion, ID: id, Revision: 2, References: []string{id}, Channel: "webform", Customer: cu,
			Description: text, Category: "网络质量", Status: st, ReceivedAt: at, UpdatedAt: at, Route: router.Route{Department: "客户服务中心"}}
	}
	return []router.Case{
		mk("TSQ0000000001", qian, "12月1号起宽带断网，住南京市鼓楼区中山路18号5栋1203室", router.StatusOpen),
		mk("TSQ0000000002", qian, "营业厅说线路改造", router.StatusClosed),
		mk("TSS0000000003", normalize.Customer{Name: "孙大伟", Phone: "+8613700001111", Key: "phone:+8613700001111"}, "小区宽带全部断网", router.StatusOpen),
	}
}

// TestPrivacyPage: an admin finds a customer's cases, downloads them,
// is asked to confirm the erasure with the cases listed, needs a reason,
// and then erases them all; nobody else sees the page.
func TestPrivacyPage(t *testing.T) {
	ps := newPagesServer(t, privacyCases()...)
	find := pathPrivacy + "?" + url.Values{"kind": {"phone"}, "value": {"139 8765 4321"}}.Encode()
	ps.check(t, "吴", pathPrivacy, http.StatusOK, []string{"个人信息查阅与删除", `aria-current="page">个人信息`, `<option value="id_number">身份证号码</option>`}, []string{"该客户的工单"})
	ps.check(t, "吴", find, http.StatusOK, []string{"该客户的工单（2 个）", "TSQ0000000001", "TSQ0000000002", "下载全部信息", "删除该客户的个人信息…"},
		[]string{"TSS0000000003"})
	ps.check(t, "吴", pathPrivacy+"?kind=id_number&value=12345", http.StatusOK, []string{"身份证号码格式不正确"}, []string{"该客户的工单"})
	ps.check(t, "吴", pathPrivacy+"/export?kind=email&value=qianxh@example.cn", http.StatusOK, []string{`"selector":"email:q***@example.cn"`, "中山路18号", "TSQ0000000002"}, nil)
	for _, who := range []string{"甲", "王", "钱"} {
		ps.check(t, who, find, http.StatusNotFound, nil, []string{"TSQ0000000001"})
	}

	form := url.Values{"_csrf": {testCSRF}, "kind": {"phone"}, "value": {"13987654321"}}
	code, page := ps.post(t, "吴", pathPrivacy+"/erase", form)
	if code != http.StatusOK || !strings.Contains(page, "确认删除个人信息") || !strings.Contains(page, "删除后无法恢复") || !strings.Contains(page, "TSQ0000000002") ||
		!strings.Contains(page, `name="confirm" value="1"`) || len(ps.published) != 0 {
		t.Fatalf("confirmation: %d, %d actions sent: %.2000s", code, len(ps.published), page)
	}
	form.Set("confirm", "1")
	code, page = ps.post(t, "吴", pathPrivacy+"/erase", form)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "请填写删除原因") || len(ps.published) != 0 {
		t.Fatalf("without a reason: %d, %d actions sent: %.2000s", code, len(ps.published), page)
	}
	form.Set("reason", "客户12月6日来电申请删除")
	code, page = ps.post(t, "吴", pathPrivacy+"/erase", form)
	if code != http.StatusOK || !strings.Contains(page, "已提交删除 2 个工单") || len(ps.published) != 2 {
		t.Fatalf("erase: %d, %d actions sent: %.2000s", code, len(ps.published), page)
	}
	for _, a := range ps.published {
		if a.Kind != router.ActionErase || a.Actor != "wu.admin" || a.Reason != router.ErasureRequest || a.Note != "客户12月6日来电申请删除" || a.Snapshot == nil {
			t.Errorf("action %+v", a)
		}
	}
	if ps.logs.FilterMessage("personal information erased on request").Len() != 1 {
		t.Error("the erasure is not in the audit log")
	}
	delete(form, "_csrf")
	if code, _ := ps.post(t, "吴", pathPrivacy+"/erase", form); code != http.StatusForbidden || len(ps.published) != 2 {
		t.Errorf("an erasure without the CSRF token: %d", code)
	}
}

// TestErasedCasePage: the case page of an erased case says so where the
// customer was, and names the erasure in Chinese in its history.
func TestErasedCasePage(t *testing.T) {
	cs := privacyCases()[0]
	at := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	erased := router.Erase(cs, router.Erasure{At: at, Reason: router.ErasureRetention, By: router.RetentionActor})
	erased.History = append(erased.History, router.Event{Action: "erase/" + cs.ID, Kind: router.ActionErase, Actor: router.RetentionActor, At: at,
		Detail: "已删除客户个人信息（保存期限届满）"})
	ps := newPagesServer(t, erased)
	ps.check(t, "王", caseLink(cs.ID), http.StatusOK, []string{"个人信息已删除（保存期限届满，2026-12-06 10:00）", "删除个人信息", "［地址已删除］"},
		[]string{"钱小红", "中山路", ">erase<"})
}

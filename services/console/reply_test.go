package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
)

// TestReplyForm: the case page offers the reply by e-mail or text
// message, whichever reaches the customer, and says when nothing does;
// the form sends a reply action.
func TestReplyForm(t *testing.T) {
	mail := complaint(t, "TS-M", "+8613912340006", "宽带每天晚上8点到11点掉线，打了三次10000号都说在处理", time.Date(2026, 3, 4, 20, 15, 0, 0, cst), func(c *router.Case) {
		c.Route.Department, c.Customer.Email = "客户服务中心", "li.xiuying@163.com"
	})
	landline := complaint(t, "TS-L", "+861062345678", "座机打不出去两天了，报修电话一直占线", time.Date(2026, 3, 4, 11, 0, 0, 0, cst), func(c *router.Case) {
		c.Route.Department = "客户服务中心"
	})
	ps := newPagesServer(t, append(fixtures(t), mail, landline)...)
	form := `name="kind" value="reply"`
	ps.check(t, "甲", "/console/cases/TS-C", http.StatusOK, []string{form, "答复客户", "将以短信发送给客户"}, []string{"无法在此答复"})
	ps.check(t, "甲", "/console/cases/TS-M", http.StatusOK, []string{form, "将以电子邮件发送给客户，标题带受理编号"}, []string{"li.xiuying@163.com"})
	ps.check(t, "甲", "/console/cases/TS-L", http.StatusOK, []string{"无法在此答复"}, []string{form})

	for _, tt := range []struct {
		name, path, note string
		code             int
		want             string
	}{
		{"a reply", "/console/cases/TS-M/actions", "李女士您好，经查是光猫老化，明天上午9点师傅上门更换，费用全免。", http.StatusSeeOther, "/console/cases/TS-M?action="},
		{"an empty reply", "/console/cases/TS-M/actions", "　", http.StatusUnprocessableEntity, "未提交：答复客户。答复内容不能为空"},
		{"a reply nothing carries", "/console/cases/TS-L/actions", "您好", http.StatusUnprocessableEntity, "无法联系客户"},
	} {
		before := len(ps.published)
		code, got := ps.post(t, "甲", tt.path, url.Values{"_csrf": {testCSRF}, "kind": {"reply"}, "note": {tt.note}})
		if code != tt.code || !strings.Contains(got, tt.want) {
			t.Errorf("%s: POST = %d %.300s; want %d with %q", tt.name, code, got, tt.code, tt.want)
		}
		sent := len(ps.published) - before
		if tt.code == http.StatusSeeOther && (sent != 1 || ps.published[before].Kind != router.ActionReply || ps.published[before].Note != tt.note) ||
			tt.code != http.StatusSeeOther && sent != 0 {
			t.Errorf("%s: sent %+v", tt.name, ps.published[before:])
		}
	}
}

package console

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tousu/tousu/services/accounts"
)

// oneTimeRe finds the one-time password on a page.
var oneTimeRe = regexp.MustCompile(`id="onetime-password">([A-Z2-7]{26})<`)

// TestAccountsPage walks the accounts page in order, as an admin: create
// an agent (a one-time password shown once, to be changed), refuse what
// the rules refuse with the reason and the values typed, change the
// agent's role, departments and state, reset the password; every form
// needs the CSRF token, and the accounts change as the admin API
// changes them.
func TestAccountsPage(t *testing.T) {
	ps := newPagesServer(t)
	form := func(kv ...string) url.Values {
		v := url.Values{"_csrf": {testCSRF}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	zhang := form("name", "zhang.wei", "display_name", "张伟", "role", "agent", "departments", "客户服务中心、网络运维部")

	ps.check(t, "吴", pathUsers, http.StatusOK, []string{"账号管理", `aria-current="page">账号管理`, "新建账号", `name="_csrf" value="` + testCSRF}, nil)

	code, page := ps.post(t, "吴", pathUsers, zhang)
	m := oneTimeRe.FindStringSubmatch(page)
	if code != http.StatusCreated || m == nil || !strings.Contains(page, "已创建账号“zhang.wei”") {
		t.Fatalf("create: %d %.3000s", code, page)
	}
	a, ok := ps.accounts.Get("zhang.wei")
	if !ok || a.DisplayName != "张伟" || a.Role != accounts.RoleAgent || !slices.Equal(a.Departments, []string{"客户服务中心", "网络运维部"}) ||
		!a.MustChangePassword || a.UpdatedBy != "wu.admin" {
		t.Fatalf("account %+v", a.Profile)
	}
	if ok, _ := accounts.VerifyPassword(a.PasswordHash, m[1]); !ok {
		t.Errorf("the password shown does not sign in")
	}
	// The list shows it; the password is on no other page.
	ps.check(t, "吴", pathUsers, http.StatusOK, []string{`href="/console/admin/users/zhang.wei"`, "张伟", "坐席", "客户服务中心、网络运维部", "启用", "待本人修改密码", "wu.admin"},
		[]string{m[1]})

	for _, tt := range []struct {
		name   string
		form   url.Values
		code   int
		reason string
	}{
		{"a taken name", zhang, http.StatusConflict, "账号名“zhang.wei”已被使用"},
		{"an agent without a department", form("name", "li.qiang", "display_name", "李强", "role", "agent", "departments", " "), http.StatusUnprocessableEntity, "坐席（agent）至少要属于一个部门"},
		{"a name in capitals", form("name", "LiQiang", "role", "supervisor"), http.StatusUnprocessableEntity, "账号名（name）须为"},
		{"no such role", form("name", "li.qiang", "role", "boss"), http.StatusUnprocessableEntity, "角色（role）须为"},
	} {
		code, page := ps.post(t, "吴", pathUsers, tt.form)
		if code != tt.code || !strings.Contains(page, tt.reason) || !strings.Contains(page, `aria-invalid="true"`) || !strings.Contains(page, `value="`+tt.form.Get("name")+`"`) || oneTimeRe.MatchString(page) {
			t.Errorf("%s: %d, want %d with %q and the name typed: %.200s", tt.name, code, tt.code, tt.reason, page)
		}
	}
	if _, ok := ps.accounts.Get("li.qiang"); ok {
		t.Errorf("a refused account was created")
	}

	ps.check(t, "吴", userLink("zhang.wei"), http.StatusOK, []string{`value="张伟"`, `<option value="agent" selected>坐席</option>`, `value="客户服务中心、网络运维部"`, "重置密码"}, []string{`id="u-name"`})
	code, loc := ps.post(t, "吴", userLink("zhang.wei"), form("display_name", "张伟（夜班）", "role", "supervisor", "departments", "", "disabled", "yes"))
	if code != http.StatusSeeOther || loc != pathUsers+"?saved=zhang.wei" {
		t.Fatalf("change: %d %s", code, loc)
	}
	if a, _ := ps.accounts.Get("zhang.wei"); a.DisplayName != "张伟（夜班）" || a.Role != accounts.RoleSupervisor || len(a.Departments) != 0 || !a.Disabled {
		t.Errorf("after the change: %+v", a.Profile)
	}
	ps.check(t, "吴", loc, http.StatusOK, []string{"已保存账号“zhang.wei”", "已停用", "主管"}, nil)
	code, page = ps.post(t, "吴", userLink("zhang.wei"), form("display_name", "张伟", "role", "agent", "departments", "", "disabled", "no"))
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "至少要属于一个部门") {
		t.Errorf("an agent without a department: %d %.200s", code, page)
	}
	if a, _ := ps.accounts.Get("zhang.wei"); a.Role != accounts.RoleSupervisor {
		t.Errorf("a refused change was saved: %+v", a.Profile)
	}

	before, _ := ps.accounts.Get("zhang.wei")
	code, page = ps.post(t, "吴", userLink("zhang.wei")+"/password", form())
	m = oneTimeRe.FindStringSubmatch(page)
	after, _ := ps.accounts.Get("zhang.wei")
	if code != http.StatusOK || m == nil || after.PasswordHash == before.PasswordHash || !after.MustChangePassword {
		t.Fatalf("reset: %d %.300s", code, page)
	}
	if ok, _ := accounts.VerifyPassword(after.PasswordHash, m[1]); !ok {
		t.Errorf("the reset password does not sign in")
	}
	if code, _ := ps.post(t, "吴", pathUsers+"/nobody/password", form()); code != http.StatusNotFound {
		t.Errorf("reset of an unknown account: %d", code)
	}
	ps.check(t, "吴", userLink("nobody"), http.StatusNotFound, []string{"账号不存在"}, nil)

	// Every form needs the CSRF token.
	for _, path := range []string{pathUsers, userLink("zhang.wei"), userLink("zhang.wei") + "/password"} {
		v := form("name", "sun.li", "display_name", "孙丽", "role", "admin")
		v.Del("_csrf")
		if code, _ := ps.post(t, "吴", path, v); code != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF token: %d", path, code)
		}
	}
	if after2, _ := ps.accounts.Get("zhang.wei"); after2.PasswordHash != after.PasswordHash || after2.DisplayName != after.DisplayName {
		t.Errorf("a post without the CSRF token changed the account")
	}
}

// TestAccountsPageIsForAdmins: to anyone else, the accounts pages do not
// exist, and the navigation does not offer them.
func TestAccountsPageIsForAdmins(t *testing.T) {
	ps := newPagesServer(t)
	if code, _ := ps.post(t, "吴", pathUsers, url.Values{"_csrf": {testCSRF}, "name": {"zhang.wei"}, "display_name": {"张伟"}, "role": {"agent"}, "departments": {"客户服务中心"}}); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	for _, who := range []string{"甲", "王", "钱"} {
		ps.check(t, who, "/console/", http.StatusOK, nil, []string{"账号管理", "/console/admin/users"})
		for _, path := range []string{pathUsers, userLink("zhang.wei")} {
			ps.check(t, who, path, http.StatusNotFound, []string{"页面不存在"}, []string{"zhang.wei", "新建账号"})
		}
		for _, path := range []string{pathUsers, userLink("zhang.wei"), userLink("zhang.wei") + "/password"} {
			if code, _ := ps.post(t, who, path, url.Values{"_csrf": {testCSRF}, "name": {"evil"}, "role": {"admin"}, "display_name": {"黑客"}}); code != http.StatusNotFound {
				t.Errorf("%s: POST %s = %d, want 404", who, path, code)
			}
		}
	}
	if a, _ := ps.accounts.Get("zhang.wei"); a.Role != accounts.RoleAgent || a.DisplayName != "张伟" || a.UpdatedAt != a.CreatedAt {
		t.Errorf("a non-admin changed the account: %+v", a.Profile)
	}
	if _, ok := ps.accounts.Get("evil"); ok {
		t.Errorf("a non-admin created an account")
	}
	ps.check(t, "", pathUsers, http.StatusSeeOther, nil, nil)
}

func TestSplitDepartments(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"客户服务中心、网络运维部", []string{"客户服务中心", "网络运维部"}},
		{"客服部，财务部; 理赔部", []string{"客服部", "财务部", " 理赔部"}},
		{"  ", []string{}},
		{"投诉处理一部", []string{"投诉处理一部"}},
	}
	for _, tt := range tests {
		if got := splitDepartments(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitDepartments(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

// adminTokens are the tokens of the admin API tests, one per role.
var adminTokens = AuthConfig{Tokens: []Token{
	{Name: "bootstrap", Token: secret.Inline("admin-token-0123456789"), Role: RoleAdmin},
	{Name: "wang.fang", Token: secret.Inline("supervisor-token-0123456789"), Role: RoleSupervisor},
	{Name: "agent1", Token: secret.Inline("agent-token-0123456789"), Role: RoleAgent},
	{Name: "kiosk", Token: secret.Inline("intake-token-0123456789"), Role: RoleIntake},
}}

// loopbackStore is a store whose writes are read back at once, as its
// follower would read them from the topic.
func loopbackStore() *accounts.Store {
	var follow bus.Handler
	s := accounts.NewStore(bustest.Loopback(&follow), "console.accounts", nil)
	follow = s.Follow
	s.CaughtUp()
	return s
}

func send(tb testing.TB, app *fiber.App, method, path, token, body string) (int, string) {
	tb.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminAPI walks the admin API in order: each step sees the accounts
// the steps before it made.
func TestAdminAPI(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	store := loopbackStore()
	app := fiber.New()
	NewAdmin(store, NewAuthenticator(adminTokens), zap.New(core)).Mount(app)
	const (
		admin      = "admin-token-0123456789"
		supervisor = "supervisor-token-0123456789"
		agent      = "agent-token-0123456789"
		zhang      = `{"name":"zhang.wei","display_name":"张伟","role":"agent","departments":["客服部","网络部"],"password":"Xinhao2026!"}`
	)
	users, user := PathAdminUsers, PathAdminUsers+"/zhang.wei"
	tests := []struct {
		what, method, path, token, body string
		code                            int
		want                            []string
	}{
		{"no token", http.MethodGet, users, "", "", http.StatusUnauthorized, nil},
		{"wrong token", http.MethodPost, users, "admin-token-0123456788", zhang, http.StatusUnauthorized, nil},
		{"agent lists", http.MethodGet, users, agent, "", http.StatusForbidden, nil},
		{"supervisor creates", http.MethodPost, users, supervisor, zhang, http.StatusForbidden, nil},
		{"agent changes themselves", http.MethodPatch, user, agent, `{"role":"admin"}`, http.StatusForbidden, nil},
		{"intake token", http.MethodGet, users, "intake-token-0123456789", "", http.StatusForbidden, nil},
		{"create", http.MethodPost, users, admin, zhang, http.StatusCreated,
			[]string{`"name":"zhang.wei"`, `"display_name":"张伟"`, `"departments":["客服部","网络部"]`, `"must_change_password":true`, `"updated_by":"bootstrap"`}},
		{"create again", http.MethodPost, users, admin, zhang, http.StatusConflict, []string{`"error":"name_taken"`, `"field":"name"`, "账号名“zhang.wei”已被使用"}},
		{"create with a weak password", http.MethodPost, users, admin, `{"name":"li.na","display_name":"李娜","role":"supervisor","password":"1234567890"}`, http.StatusUnprocessableEntity,
			[]string{`"field":"password"`, `"error":"password_one_class"`, "密码（password）不能只由一类字符组成"}},
		{"create with a Chinese role", http.MethodPost, users, admin, `{"name":"li.na","display_name":"李娜","role":"主管","password":"Zhuguan#2026"}`, http.StatusUnprocessableEntity,
			[]string{`"field":"role"`, "角色（role）须为"}},
		{"create a capitalised name", http.MethodPost, users, admin, `{"name":"Li.Na","role":"ops","password":"Zhuguan#2026"}`, http.StatusUnprocessableEntity,
			[]string{`"field":"name"`, "账号名（name）"}},
		{"departments as one string", http.MethodPost, users, admin, `{"name":"li.na","role":"agent","departments":"客服部,网络部","password":"Zhuguan#2026"}`, http.StatusBadRequest,
			[]string{`"field":"departments"`, "字段 departments 的类型不对：应为字符串数组"}},
		{"a typo in a field", http.MethodPost, users, admin, `{"name":"li.na","role":"ops","pasword":"Zhuguan#2026"}`, http.StatusBadRequest,
			[]string{`"field":"pasword"`, "不认识的字段 pasword"}},
		{"not JSON", http.MethodPost, users, admin, `name=li.na`, http.StatusBadRequest, []string{"请求内容不是有效的 JSON 对象"}},
		{"a body too large", http.MethodPost, users, admin, `{"name":"li.na","display_name":"` + strings.Repeat("李", MaxAdminBody/3) + `"}`, http.StatusRequestEntityTooLarge, []string{"请求内容过大"}},
		{"list", http.MethodGet, users, admin, "", http.StatusOK, []string{`{"users":[{"name":"zhang.wei"`}},
		{"get", http.MethodGet, user, admin, "", http.StatusOK, []string{`"role":"agent"`}},
		{"get an unknown account", http.MethodGet, users + "/li.na", admin, "", http.StatusNotFound, []string{`"error":"no_such_account"`, "没有名为“li.na”的账号"}},
		{"move departments", http.MethodPatch, user, admin, `{"departments":["投诉处理中心"],"display_name":"张伟（夜班）"}`, http.StatusOK,
			[]string{`"departments":["投诉处理中心"]`, `"display_name":"张伟（夜班）"`}},
		{"rename", http.MethodPatch, user, admin, `{"name":"zhang.wei2"}`, http.StatusBadRequest, []string{`"field":"name"`}},
		{"nothing to change", http.MethodPatch, user, admin, `{}`, http.StatusUnprocessableEntity, []string{`"error":"empty_patch"`, "请求没有修改任何字段"}},
		{"no departments for an agent", http.MethodPatch, user, admin, `{"departments":[]}`, http.StatusUnprocessableEntity, []string{`"field":"departments"`, "坐席（agent）至少要属于一个部门"}},
		{"password too short", http.MethodPatch, user, admin, `{"password":"Mima#1"}`, http.StatusUnprocessableEntity, []string{"密码（password）至少需要 10 个字符"}},
		{"new password", http.MethodPatch, user, admin, `{"password":"Xinmima#2027"}`, http.StatusOK, []string{`"must_change_password":true`}},
		{"disable", http.MethodPatch, user, admin, `{"disabled":true}`, http.StatusOK, []string{`"disabled":true`}},
		{"change an unknown account", http.MethodPatch, users + "/li.na", admin, `{"disabled":true}`, http.StatusNotFound, []string{"没有名为“li.na”的账号"}},
		{"disabled as a string", http.MethodPatch, user, admin, `{"disabled":"yes"}`, http.StatusBadRequest, []string{"字段 disabled 的类型不对：应为true 或 false"}},
		// The last enabled admin account stays one.
		{"the first admin account", http.MethodPost, users, admin, `{"name":"zhou.min","display_name":"周敏","role":"admin","password":"Guanli#2026x"}`, http.StatusCreated, nil},
		{"disable the only admin", http.MethodPatch, users + "/zhou.min", admin, `{"disabled":true}`, http.StatusUnprocessableEntity,
			[]string{`"error":"last_admin"`, `"field":"disabled"`, "zhou.min 是唯一启用的管理员账号"}},
		{"demote the only admin", http.MethodPatch, users + "/zhou.min", admin, `{"role":"supervisor"}`, http.StatusUnprocessableEntity,
			[]string{`"error":"last_admin"`, `"field":"role"`}},
		{"a second admin", http.MethodPost, users, admin, `{"name":"wu.lei","display_name":"吴磊","role":"admin","password":"Guanli#2026y"}`, http.StatusCreated, nil},
		{"demote one of two admins", http.MethodPatch, users + "/zhou.min", admin, `{"role":"supervisor"}`, http.StatusOK, []string{`"role":"supervisor"`}},
		{"disable the admin left", http.MethodPatch, users + "/wu.lei", admin, `{"disabled":true}`, http.StatusUnprocessableEntity, []string{`"error":"last_admin"`}},
	}
	for _, tt := range tests {
		code, body := send(t, app, tt.method, tt.path, tt.token, tt.body)
		if code != tt.code {
			t.Errorf("%s: %s %s = %d %s, want %d", tt.what, tt.method, tt.path, code, body, tt.code)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: %s, want %s in it", tt.what, body, w)
			}
		}
		for _, secret := range []string{"password_hash", "argon2", "Xinhao2026", "Xinmima"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s: %s shows %q", tt.what, body, secret)
			}
		}
	}
	got, _ := store.Get("zhang.wei")
	if ok, _ := accounts.VerifyPassword(got.PasswordHash, "Xinmima#2027"); !ok || !got.Disabled || got.UpdatedBy != "bootstrap" {
		t.Errorf("stored account %+v: want the new password, disabled, changed by bootstrap", got)
	}
	// Every change is logged with who and what, never the password.
	var changes []string
	for _, e := range logs.All() {
		line, _ := json.Marshal(e.ContextMap())
		if strings.Contains(string(line), "Xin") {
			t.Errorf("log %q %s shows a password", e.Message, line)
		}
		if e.ContextMap()["by"] == "bootstrap" && e.ContextMap()["account"] == "zhang.wei" {
			changes = append(changes, e.Message+" "+string(line))
		}
	}
	if len(changes) != 4 || !strings.Contains(changes[2], `"fields":["password"]`) {
		t.Errorf("logged changes of zhang.wei %q, want the creation and three changes, naming the fields", changes)
	}
	// A refused change is not logged as made.
	if n := len(logs.FilterField(zap.String("account", "wu.lei")).FilterMessage("account changed").All()); n != 0 {
		t.Errorf("%d changes of wu.lei logged, want none: disabling the last admin was refused", n)
	}
	if got, _ := store.Get("wu.lei"); got.Disabled || got.Role != accounts.RoleAdmin {
		t.Errorf("wu.lei = %+v, want the enabled admin left", got)
	}
}

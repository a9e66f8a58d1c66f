package accounts

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 6, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))

// checkFieldErr checks that err is a *FieldError of field with code, or
// nil when code is "".
func checkFieldErr(tb testing.TB, what string, err error, field, code string) {
	tb.Helper()
	if code == "" {
		if err != nil {
			tb.Errorf("%s: %v, want no error", what, err)
		}
		return
	}
	fe, ok := IsFieldError(err)
	switch {
	case !ok:
		tb.Errorf("%s: %v, want the field error %s/%s", what, err, field, code)
	case fe.Field != field || fe.Code != code:
		tb.Errorf("%s: field %q code %q, want %q %q", what, fe.Field, fe.Code, field, code)
	case !strings.Contains(fe.Message, "（"+field+"）") && field != "":
		tb.Errorf("%s: message %q does not name the field %s", what, fe.Message, field)
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name, password, code string
	}{
		{"zhang.wei", "Xinhao2026!", ""},
		{"zhang.wei", "信号差了三天还没修好1", ""},  // Chinese and a digit
		{"zhang.wei", "ｋｅｆｕ２０２６ｐａｓｓ", ""}, // full-width letters and digits
		{"zhang.wei", "short1A", "password_too_short"},
		{"zhang.wei", "投诉处理中心", "password_too_short"},
		{"zhang.wei", "abcdefghijkl", "password_one_class"},
		{"zhang.wei", "13912340001", "password_one_class"},
		{"zhang.wei", "客服部网络部投诉处理中心", "password_one_class"},
		{"li_na-2", "LI_NA-2", "password_too_short"},
		{"kefu.li2026", "Kefu.Li2026", "password_is_name"},
		{"kefu.li2026", "kefu.li2026 ", "password_is_name"},
		{"zhang.wei", "Xinhao\t2026!", "password_invalid"},
		{"zhang.wei", strings.Repeat("aB3", 43), "password_too_long"},
	}
	for _, tt := range tests {
		checkFieldErr(t, tt.name+"/"+tt.password, CheckPassword(tt.name, tt.password), "password", tt.code)
	}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		what        string
		spec        Spec
		field, code string
	}{
		{"agent", Spec{Name: "zhang.wei", DisplayName: "张伟", Role: RoleAgent, Departments: []string{" 客服部", "网络部 "}, Password: "Xinhao2026!"}, "", ""},
		{"supervisor without departments", Spec{Name: "wang_fang", DisplayName: "王芳", Role: RoleSupervisor, Password: "Zhuguan#2026"}, "", ""},
		{"capital letters in the name", Spec{Name: "ZhangWei", Role: RoleAgent, Departments: []string{"客服部"}, Password: "Xinhao2026!"}, "name", "invalid_name"},
		{"Chinese name", Spec{Name: "张伟", Role: RoleAgent, Departments: []string{"客服部"}, Password: "Xinhao2026!"}, "name", "invalid_name"},
		{"one letter", Spec{Name: "z", Role: RoleAgent, Departments: []string{"客服部"}, Password: "Xinhao2026!"}, "name", "invalid_name"},
		{"unknown role", Spec{Name: "zhang.wei", Role: "boss", Departments: []string{"客服部"}, Password: "Xinhao2026!"}, "role", "invalid_role"},
		{"role in Chinese", Spec{Name: "zhang.wei", Role: "坐席", Departments: []string{"客服部"}, Password: "Xinhao2026!"}, "role", "invalid_role"},
		{"agent without departments", Spec{Name: "zhang.wei", Role: RoleAgent, Password: "Xinhao2026!"}, "departments", "departments_required"},
		{"empty department", Spec{Name: "zhang.wei", Role: RoleAgent, Departments: []string{"客服部", "　 "}, Password: "Xinhao2026!"}, "departments", "department_empty"},
		{"department twice", Spec{Name: "zhang.wei", Role: RoleAgent, Departments: []string{"客服部", "客服部 "}, Password: "Xinhao2026!"}, "departments", "department_repeated"},
		{"display name too long", Spec{Name: "zhang.wei", DisplayName: strings.Repeat("张", 65), Role: RoleOps, Password: "Xinhao2026!"}, "display_name", "display_name_invalid"},
		{"weak password", Spec{Name: "zhang.wei", Role: RoleOps, Password: "12345678901"}, "password", "password_one_class"},
	}
	for _, tt := range tests {
		a, err := Create(tt.spec, "bootstrap", now)
		checkFieldErr(t, tt.what, err, tt.field, tt.code)
		if err != nil {
			continue
		}
		if ok, err := VerifyPassword(a.PasswordHash, tt.spec.Password); !ok || err != nil {
			t.Errorf("%s: the password does not verify against its hash: %v", tt.what, err)
		}
		if strings.Contains(a.PasswordHash, tt.spec.Password) {
			t.Errorf("%s: the hash %q holds the password", tt.what, a.PasswordHash)
		}
		if !a.MustChangePassword || !a.PasswordChangedAt.Equal(now) || !a.CreatedAt.Equal(now) || a.UpdatedBy != "bootstrap" || a.Disabled {
			t.Errorf("%s: %+v, want a password to change at first sign-in, set at %s by bootstrap", tt.what, a, now)
		}
		for _, d := range a.Departments {
			if d != strings.TrimSpace(d) {
				t.Errorf("%s: department %q not trimmed", tt.what, d)
			}
		}
	}
	if a, _ := Create(Spec{Name: "ops-1", Role: RoleOps, Password: "Yunwei@2026"}, "bootstrap", now); a.DisplayName != "ops-1" {
		t.Errorf("no display name: %q, want the name", a.DisplayName)
	}
}

func TestApply(t *testing.T) {
	agent, err := Create(Spec{Name: "zhang.wei", DisplayName: "张伟", Role: RoleAgent, Departments: []string{"客服部"}, Password: "Xinhao2026!"}, "bootstrap", now)
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	tests := []struct {
		what        string
		patch       Patch
		by          string
		field, code string
		check       func(Account) bool
	}{
		{"promote", Patch{Role: new(RoleSupervisor), Departments: &[]string{}}, "admin", "", "", func(a Account) bool {
			return a.Role == RoleSupervisor && len(a.Departments) == 0 && a.UpdatedBy == "admin" && a.UpdatedAt.Equal(later) && a.PasswordChangedAt.Equal(now)
		}},
		{"move departments", Patch{Departments: &[]string{"网络部", "投诉处理中心"}}, "admin", "", "", func(a Account) bool {
			return slices.Equal(a.Departments, []string{"网络部", "投诉处理中心"})
		}},
		{"disable", Patch{Disabled: new(true)}, "admin", "", "", func(a Account) bool { return a.Disabled && a.PasswordHash == agent.PasswordHash }},
		{"admin sets the password", Patch{Password: new("Mima2026#new")}, "admin", "", "", func(a Account) bool {
			ok, _ := VerifyPassword(a.PasswordHash, "Mima2026#new")
			return ok && a.MustChangePassword && a.PasswordChangedAt.Equal(later)
		}},
		{"own password", Patch{Password: new("Wodemima2027")}, "zhang.wei", "", "", func(a Account) bool {
			return !a.MustChangePassword && a.PasswordChangedAt.Equal(later)
		}},
		{"nothing", Patch{}, "admin", "", "empty_patch", nil},
		{"agent without departments", Patch{Departments: &[]string{}}, "admin", "departments", "departments_required", nil},
		{"empty display name", Patch{DisplayName: new("  ")}, "admin", "display_name", "display_name_required", nil},
		{"password is the name", Patch{Password: new("Zhang.Wei")}, "admin", "password", "password_too_short", nil},
		{"unknown role", Patch{Role: new(Role("Agent"))}, "admin", "role", "invalid_role", nil},
	}
	for _, tt := range tests {
		got, err := Apply(agent, tt.patch, tt.by, later)
		checkFieldErr(t, tt.what, err, tt.field, tt.code)
		if err == nil && !tt.check(got) {
			t.Errorf("%s: %+v", tt.what, got)
		}
	}
	if want := []string{"role", "password", "disabled"}; !slices.Equal((Patch{Role: new(RoleOps), Password: new("x"), Disabled: new(false)}).Fields(), want) {
		t.Errorf("Fields: want %v", want)
	}
}

func TestVerifyPassword(t *testing.T) {
	hash, err := HashPassword("Xinhao2026!")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not carry its parameters", hash)
	}
	// A hash made with other parameters still verifies by the ones it names.
	saved := DefaultHashParams
	DefaultHashParams = HashParams{Memory: 8 * 1024, Time: 1, Threads: 2}
	older, err := HashPassword("信号差了三天还没修好1")
	DefaultHashParams = saved
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hash, password string
		ok, bad        bool
	}{
		{hash, "Xinhao2026!", true, false},
		{hash, "xinhao2026!", false, false},
		{hash, "Xinhao2026! ", false, false},
		{older, "信号差了三天还没修好1", true, false},
		{older, "信号差了三天还没修好", false, false},
		{"", "Xinhao2026!", false, true},
		{"$2a$10$abcdefghijklmnopqrstuv", "Xinhao2026!", false, true},
		{strings.Replace(hash, "m=19456", "m=0", 1), "Xinhao2026!", false, true},
		{strings.Replace(hash, "v=19", "v=16", 1), "Xinhao2026!", false, true},
		{hash[:strings.LastIndex(hash, "$")], "Xinhao2026!", false, true},
	}
	for _, tt := range tests {
		ok, err := VerifyPassword(tt.hash, tt.password)
		if ok != tt.ok || (err != nil) != tt.bad {
			t.Errorf("VerifyPassword(%q, %q) = %v, %v; want %v, error %v", tt.hash, tt.password, ok, err, tt.ok, tt.bad)
		}
	}
}

// TestApplyRecord checks the order rules, and that the topic as compaction
// leaves it (the latest update per name, every creation) gives the same
// accounts as the whole topic.
func TestApplyRecord(t *testing.T) {
	first := Account{Profile: Profile{Name: "admin", Role: RoleAdmin}, PasswordHash: "first"}
	second := Account{Profile: Profile{Name: "admin", Role: RoleAdmin}, PasswordHash: "second"}
	renamed := first
	renamed.DisplayName = "系统管理员"
	agent := Account{Profile: Profile{Name: "zhang.wei", Role: RoleAgent, Departments: []string{"客服部"}}}
	moved := agent
	moved.Departments = []string{"网络部"}
	movedBack := agent
	movedBack.Departments = []string{"网络部", "客服部"}
	topic := []record{
		{ID: "1", Op: opCreate, Account: first},
		{ID: "2", Op: opCreate, Account: second}, // a second console's bootstrap, later
		{ID: "3", Op: opCreate, Account: agent},
		{ID: "4", Op: opUpdate, Account: renamed},
		{ID: "5", Op: opUpdate, Account: moved},
		{ID: "6", Op: opCreate, Account: Account{Profile: Profile{Name: "zhang.wei", Role: RoleAdmin}}}, // a name taken
		{ID: "7", Op: opUpdate, Account: movedBack},
	}
	wantApplied := []bool{true, false, true, true, true, false, true}
	replay := func(records []record) map[string]Account {
		got := map[string]Account{}
		for i, r := range records {
			applied := applyRecord(got, r)
			if len(records) == len(topic) && applied != wantApplied[i] {
				t.Errorf("record %s (%s %s): applied %v, want %v", r.ID, r.Op, r.Account.Name, applied, wantApplied[i])
			}
		}
		return got
	}
	whole := replay(topic)
	if whole["admin"].PasswordHash != "first" || whole["admin"].DisplayName != "系统管理员" || !slices.Equal(whole["zhang.wei"].Departments, []string{"网络部", "客服部"}) || whole["zhang.wei"].Role != RoleAgent {
		t.Errorf("after the topic: %+v", whole)
	}
	// Compaction keeps the latest record of each key.
	latest := map[string]int{}
	for i, r := range topic {
		latest[r.key()] = i
	}
	var compacted []record
	for i, r := range topic {
		if latest[r.key()] == i {
			compacted = append(compacted, r)
		}
	}
	if len(compacted) != 6 {
		t.Fatalf("compaction kept %d records, want 6 (two updates of one name are one)", len(compacted))
	}
	if got := replay(compacted); got["admin"].PasswordHash != "first" || got["admin"].DisplayName != "系统管理员" || !slices.Equal(got["zhang.wei"].Departments, []string{"网络部", "客服部"}) {
		t.Errorf("after compaction: %+v, want the same accounts as %+v", got, whole)
	}
}

func TestKeepsAnAdmin(t *testing.T) {
	admin := func(name string, disabled bool) Account {
		return Account{Profile: Profile{Name: name, Role: RoleAdmin, Disabled: disabled}}
	}
	agent := Account{Profile: Profile{Name: "li.na", Role: RoleAgent, Departments: []string{"客服部"}}}
	demoted := admin("zhou.min", false)
	demoted.Role = RoleSupervisor
	tests := []struct {
		name          string
		all           []Account
		before, after Account
		field         string // "" when allowed
	}{
		{"disable the only admin", []Account{admin("zhou.min", false), agent}, admin("zhou.min", false), admin("zhou.min", true), "disabled"},
		{"demote the only admin", []Account{admin("zhou.min", false)}, admin("zhou.min", false), demoted, "role"},
		{"another admin is disabled", []Account{admin("zhou.min", false), admin("wu.lei", true)}, admin("zhou.min", false), admin("zhou.min", true), "disabled"},
		{"another enabled admin", []Account{admin("zhou.min", false), admin("wu.lei", false)}, admin("zhou.min", false), admin("zhou.min", true), ""},
		{"an admin stays one", []Account{admin("zhou.min", false)}, admin("zhou.min", false), admin("zhou.min", false), ""},
		{"enable a disabled admin", []Account{admin("zhou.min", true)}, admin("zhou.min", true), admin("zhou.min", false), ""},
		{"an agent changes", []Account{agent}, agent, agent, ""},
	}
	for _, tt := range tests {
		err := KeepsAnAdmin(tt.all, tt.before, tt.after)
		fe, ok := IsFieldError(err)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v, want allowed", tt.name, err)
		case tt.field != "" && (!ok || fe.Field != tt.field || fe.Code != "last_admin" || !strings.Contains(fe.Message, "唯一启用的管理员")):
			t.Errorf("%s: %v, want a last_admin refusal of %s", tt.name, err, tt.field)
		}
	}
}

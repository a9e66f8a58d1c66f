package httpapi

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/accounts"
)

func TestPrincipalMaySee(t *testing.T) {
	network := router.Case{ID: "TS1", Route: router.Route{Department: "网络运维部", Owner: "1001"}, Assignee: "2002"}
	billing := router.Case{ID: "TS2", Route: router.Route{Department: "计费部"}}
	tests := []struct {
		name string
		p    Principal
		c    router.Case
		want bool
	}{
		{"supervisor sees every case", Principal{Name: "王主管", Role: RoleSupervisor}, billing, true},
		{"admin sees every case", Principal{Name: "admin", Role: RoleAdmin}, network, true},
		{"agent of the department", Principal{Name: "3003", Role: RoleAgent, Departments: []string{"网络运维部"}}, network, true},
		{"agent of another department", Principal{Name: "3003", Role: RoleAgent, Departments: []string{"网络运维部"}}, billing, false},
		{"agent with no department listed", Principal{Name: "3003", Role: RoleAgent, Departments: []string{}}, billing, false},
		{"the owner after a transfer", Principal{Name: "1001", Role: RoleAgent, Departments: []string{"客服部"}}, network, true},
		{"the holder after a transfer", Principal{Name: "2002", Role: RoleAgent, Departments: []string{"客服部"}}, network, true},
		{"a token without an account", Principal{Name: "partner", Role: RoleAgent}, billing, true},
		{"an intake token", Principal{Name: "kiosk", Role: RoleIntake}, billing, false},
		{"an ops account", Principal{Name: "ops1", Role: RoleOps}, billing, false},
	}
	for _, tt := range tests {
		if got := tt.p.MaySee(tt.c); got != tt.want {
			t.Errorf("%s: MaySee = %v, want %v", tt.name, got, tt.want)
		}
	}
	if s := (Principal{Name: "3003", Role: RoleAgent, Departments: []string{"计费部"}}).Scope(); s == nil || !slices.Equal(s.Departments, []string{"计费部"}) || s.Person != "3003" {
		t.Errorf("agent's Scope = %+v", s)
	}
	if s := (Principal{Role: RoleSupervisor}).Scope(); s != nil {
		t.Errorf("supervisor's Scope = %+v, want nil (all)", s)
	}
	for _, role := range []Role{RoleOps, RoleIntake} {
		s := (Principal{Name: "x", Role: role}).Scope()
		if s == nil || len(s.Terms()) != 0 || s.Allows(router.Case{ID: "TS1", Route: router.Route{Department: "计费部"}}) {
			t.Errorf("%s's Scope = %+v, want one that holds no case", role, s)
		}
	}
}

// TestTokensBelongToAccounts: a token named after an account gets the
// account's departments and stops working when it is disabled; a token
// whose name is no account keeps its role over every department; actions
// may name every enabled account that works cases.
func TestTokensBelongToAccounts(t *testing.T) {
	store := loopbackStore()
	for _, a := range []struct {
		spec     accounts.Spec
		disabled bool
	}{
		{accounts.Spec{Name: "agent1", Role: accounts.RoleAgent, Departments: []string{"客服部", "网络部"}, Password: "坐席密码Agent-01"}, false},
		{accounts.Spec{Name: "agent2", Role: accounts.RoleAgent, Departments: []string{"计费部"}, Password: "坐席密码Agent-02"}, true},
		{accounts.Spec{Name: "zhou.min", Role: accounts.RoleAgent, Departments: []string{"客服部"}, Password: "坐席密码Zhou-03"}, false},
		{accounts.Spec{Name: "qian.ops", Role: accounts.RoleOps, Password: "运维密码Qian-04"}, false},
	} {
		acc, err := accounts.Create(a.spec, "admin", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		acc.Disabled = a.disabled
		if err := store.Create(context.Background(), acc); err != nil {
			t.Fatal(err)
		}
	}
	auth := NewAuthenticator(tokens)
	auth.UseAccounts(store)
	for _, tt := range []struct {
		token string
		ok    bool
		want  Principal
	}{
		{"agent-token-0123456789", true, Principal{Name: "agent1", Role: RoleAgent, Departments: []string{"客服部", "网络部"}}},
		{"agent2-token-0123456789", false, Principal{}},
		{"supervisor-token-0123456789", true, Principal{Name: "主管王", Role: RoleSupervisor}},
		{"admin-token-0123456789", true, Principal{Name: "boss", Role: RoleAdmin}},
	} {
		p, ok := auth.Check(tt.token)
		if ok != tt.ok || p.Name != tt.want.Name || p.Role != tt.want.Role || !slices.Equal(p.Departments, tt.want.Departments) || (p.Departments == nil) != (tt.want.Departments == nil) {
			t.Errorf("Check(%s) = %+v, %v; want %+v, %v", tt.token, p, ok, tt.want, tt.ok)
		}
	}
	for name, want := range map[string]bool{"agent1": true, "zhou.min": true, "agent2": false, "qian.ops": false, "boss": true, "kiosk": false, "zhou.mim": false} {
		if got := auth.Knows(name); got != want {
			t.Errorf("Knows(%s) = %v, want %v", name, got, want)
		}
	}
}

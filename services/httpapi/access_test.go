package httpapi

import (
	"slices"
	"testing"

	"github.com/tousu/tousu/router"
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
}

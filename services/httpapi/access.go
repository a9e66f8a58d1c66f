package httpapi

// This file is the console's authorisation in one place: which cases a
// principal may see and search, and whether they see contact data.
// Every route of the API and the pages asks these methods, never the role
// itself.

import (
	"slices"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// MaySee reports whether p may see and act on case c: supervisors and
// admins every case; an agent the cases of their departments and those
// they own or hold, wherever those were transferred (their Scope); an
// intake token or an ops account none.
func (p Principal) MaySee(c router.Case) bool {
	if !p.Role.MaySearch() {
		return false
	}
	s := p.Scope()
	return s == nil || s.Allows(c)
}

// Scope is what a search by p is limited to, the rule of MaySee for the
// index; nil for every case. A role that may not read cases (ops, intake)
// gets the empty scope, which holds no case.
func (p Principal) Scope() *caseindex.Scope {
	if !p.Role.MaySearch() {
		return &caseindex.Scope{}
	}
	if p.Departments == nil {
		return nil
	}
	return &caseindex.Scope{Departments: slices.Clone(p.Departments), Person: p.Name}
}

// SeesContacts reports whether p sees customers' phone numbers, e-mail
// addresses and names unmasked.
func (p Principal) SeesContacts() bool { return p.Role.SeesContacts() }

// MayReveal reports whether p, who sees contacts masked, may be shown
// one contact of case c unmasked, each reveal audited on the case: an
// agent, for every case they may see. The agent who first took a
// complaint stays responsible for it until it is done (首问负责制) and the
// case's department calls the customer back (回访), so whoever may work
// the case may need the number; a role that sees contacts needs no
// reveal, and one that may not see the case gets none.
func (p Principal) MayReveal(c router.Case) bool {
	return p.Role == RoleAgent && p.MaySee(c)
}

// RunsPipeline reports whether the role may open the operations pages of
// the console: operations and admins.
func (r Role) RunsPipeline() bool { return r == RoleAdmin || r == RoleOps }

// MonitorsPipeline reports whether the role may read the pipeline's state
// through the API, changing nothing: the channels, the processes and the
// dead letters, masked. Those who run the pipeline and a monitoring
// system's token.
func (r Role) MonitorsPipeline() bool { return r.RunsPipeline() || r == RoleMonitor }

// UsesConsole reports whether the role may open the console's pages:
// every role but an intake token, which only submits complaints, and a
// monitoring system's, which only reads figures.
func (r Role) UsesConsole() bool { return r != RoleIntake && r != RoleMonitor }

// MaySubmit reports whether a token of the role may submit complaints
// through the JSON API: every role but a monitoring system's, which
// changes nothing.
func (r Role) MaySubmit() bool { return r != RoleMonitor }

// TendsDeadLetters reports whether the role may list the dead letters of
// complaints.dlq, see their payloads masked and replay them: ops and
// admin, who run the pipeline.
func (r Role) TendsDeadLetters() bool { return r == RoleOps || r == RoleAdmin }

// SeesDeadLetterPayloads reports whether the role may be shown one dead
// letter's payload in full, each time audited in the log: ops, who must
// read what a stage could not to fix it. An admin sees it masked.
func (r Role) SeesDeadLetterPayloads() bool { return r == RoleOps }

// MayReport reports whether the role may read the SLA figures and their
// monthly report: supervisors and admins, who answer for timeliness.
func (r Role) MayReport() bool { return r == RoleAdmin || r == RoleSupervisor }

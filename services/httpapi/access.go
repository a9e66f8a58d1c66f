package httpapi

// This file is the console's authorisation in one place: which cases a
// principal may see and search, and whether they see contact data.
// Every route of the API and the pages asks these methods, never the role
// itself.

import (
	"slices"

	"github.com/tousu/tousu/router"
)

// MaySee reports whether p may see and act on case c: supervisors and
// admins every case; an agent the cases of their departments and those
// they own or hold, wherever those were transferred; an intake token
// none.
func (p Principal) MaySee(c router.Case) bool {
	switch {
	case !p.Role.MaySearch():
		return false
	case p.Departments == nil:
		return true
	case c.Route.Owner == p.Name || c.Assignee == p.Name:
		return true
	}
	return slices.Contains(p.Departments, c.Route.Department)
}

// SearchDepartments are the departments a search by p is limited to; nil
// for every department. An agent's search also finds the cases they own
// or hold (see MaySee), which a search filters by owner or assignee.
func (p Principal) SearchDepartments() []string {
	if p.Departments == nil {
		return nil
	}
	return slices.Clone(p.Departments)
}

// SeesContacts reports whether p sees customers' phone numbers, e-mail
// addresses and names unmasked.
func (p Principal) SeesContacts() bool { return p.Role.SeesContacts() }

package caseindex

import (
	"slices"

	"github.com/tousu/tousu/router"
)

// Scope is what a person may see: the cases of Departments, and those
// whose owner or assignee is Person, wherever those were transferred.
// A scope with neither sees no case.
type Scope struct {
	Departments []string
	Person      string
}

// Allows reports whether the scope holds case c: the rule every backend's
// search applies through Terms.
func (s Scope) Allows(c router.Case) bool {
	if s.Person != "" && (c.Route.Owner == s.Person || c.Assignee == s.Person) {
		return true
	}
	return slices.Contains(s.Departments, c.Route.Department)
}

// Term is an exact match on a keyword field of the index.
type Term struct {
	// Field is the index document's field (Filter.IndexField).
	Field string
	Value string
}

// Terms are the matches a case in the scope has at least one of: its
// department one of Departments, its owner or assignee Person. None
// means the scope holds no case.
func (s Scope) Terms() []Term {
	var out []Term
	for _, d := range s.Departments {
		if d != "" {
			out = append(out, Term{filterField("department"), d})
		}
	}
	if s.Person != "" {
		out = append(out, Term{filterField("owner"), s.Person}, Term{filterField("assignee"), s.Person})
	}
	return out
}

// filterField is the index field of the filter called name.
func filterField(name string) string {
	for _, f := range Filters {
		if f.Name == name {
			return f.IndexField()
		}
	}
	panic("caseindex: no filter " + name) // a programming error: the names are constants
}

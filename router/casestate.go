package router

import "github.com/tousu/tousu/normalize"

// CaseStateOf is the state duplicate detection knows a case by.
func CaseStateOf(c Case) normalize.CaseState {
	switch c.Status {
	case StatusResolved:
		return normalize.CaseResolved
	case StatusClosed:
		return normalize.CaseClosed
	}
	return normalize.CaseOpen
}

package router

import "github.com/tousu/tousu/normalize"

// CaseStateOf is the state duplicate and repeat detection know a case by:
// resolved, closed, or open for every other status.
func CaseStateOf(c Case) normalize.CaseState {
	switch c.Status {
	case StatusResolved:
		return normalize.CaseResolved
	case StatusClosed:
		return normalize.CaseClosed
	}
	return normalize.CaseOpen
}

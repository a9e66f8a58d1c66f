package caseindex

import (
	"fmt"
	"strings"
	"time"

	"github.com/tousu/tousu/router"
)

// LatestByID returns one case per id, the one with the highest revision
// (on a tie the later copy), in the order the ids first appear. A case
// without an id or with a negative revision is an error wrapping
// ErrInvalidCase: no backend can store it.
func LatestByID(cases []router.Case) ([]router.Case, error) {
	latest := make(map[string]int, len(cases)) // id -> index in out
	out := make([]router.Case, 0, len(cases))
	for i, c := range cases {
		switch {
		case strings.TrimSpace(c.ID) == "":
			return nil, fmt.Errorf("case %d of %d has no id: %w", i+1, len(cases), ErrInvalidCase)
		case c.Revision < 0:
			return nil, fmt.Errorf("case %s has negative revision %d: %w", c.ID, c.Revision, ErrInvalidCase)
		}
		j, seen := latest[c.ID]
		switch {
		case !seen:
			latest[c.ID] = len(out)
			out = append(out, c)
		case c.Revision >= out[j].Revision:
			out[j] = c
		}
	}
	return out, nil
}

// Keywords returns the keyword fields both backends index for a case: each
// Filter's values under its index field (one value as a string, several as
// a slice, none left out; a dotted field inside its object, so the
// customer's phone, name and email are under "customer") and the
// customer's key under "customer" too.
func Keywords(c router.Case) map[string]any {
	doc := map[string]any{}
	for _, f := range Filters {
		switch vs := f.Value(c); len(vs) {
		case 0:
		case 1:
			put(doc, f.IndexField(), vs[0])
		default:
			put(doc, f.IndexField(), vs)
		}
	}
	if c.Customer.Key != "" {
		put(doc, "customer.key", c.Customer.Key)
	}
	return doc
}

// put sets the field of doc to v, a dotted field inside its objects,
// which it creates as needed.
func put(doc map[string]any, field string, v any) {
	parent, name, ok := strings.Cut(field, ".")
	if !ok {
		doc[field] = v
		return
	}
	sub, _ := doc[parent].(map[string]any)
	if sub == nil {
		sub = map[string]any{}
		doc[parent] = sub
	}
	put(sub, name, v)
}

// Dates returns a case's non-zero dates by index field name.
func Dates(c router.Case) map[string]time.Time {
	out := map[string]time.Time{}
	for name, t := range map[string]time.Time{"received_at": c.ReceivedAt, "updated_at": c.UpdatedAt, "deadline": c.Deadline} {
		if !t.IsZero() {
			out[name] = t
		}
	}
	return out
}

package router

import (
	"testing"

	"github.com/tousu/tousu/internal/workorders"
)

// generateWorkOrders is n generated telecom work orders as training rows.
func generateWorkOrders(tb testing.TB, n int, seed uint64) []Labelled {
	tb.Helper()
	var out []Labelled
	for _, r := range workorders.Generate(n, seed) {
		out = append(out, Labelled{Text: r.Text, Category: r.Category, Weight: 1})
	}
	return out
}

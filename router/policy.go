package router

import (
	"time"

	"github.com/tousu/tousu/normalize"
)

// Policy decides what a new complaint is. Implementations are pure: no I/O,
// safe for concurrent use, and the same complaint and instant always give
// the same case, so reprocessing a complaint is harmless.
type Policy interface {
	// Open makes the case a complaint opens, as of now.
	Open(c normalize.Complaint, now time.Time) Case
}

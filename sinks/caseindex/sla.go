package caseindex

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/router/calendar"
)

// SLAField is the keyword field of an index document that holds the case's
// SLA facts (SLAFacts). Both backends index it and count its values for
// SLA reports, so every figure of a report is a count of one value.
const SLAField = "sla"

// The SLA facts of a case, the values of SLAField. A fact with a "=" is
// followed by a value: a batch id, a bit number or a bucket edge.
const (
	FactReceived       = "received"
	FactValid          = ValidityValid
	FactInvalid        = ValidityInvalid
	FactResolved       = "resolved" // resolved or closed
	FactOnTime         = "on_time"  // resolved with no clock missed or overdue
	FactBreached       = "breached" // a clock past due and not met
	FactRepeat         = "repeat"   // has repeat contacts (重复投诉)
	FactSatisfied      = "follow_up=satisfied"
	FactUnsatisfied    = "follow_up=unsatisfied"
	factBatch          = "batch="
	factReplyPrefix    = "reply"
	factResolvePrefix  = "resolve"
	factBitSuffix      = "_bit="
	factBucketSuffix   = "_le="
	factBucketOverflow = "inf"
)

// DurationEdges are the upper edges, in working hours, of the buckets the
// times to reply and to resolve are counted in; a time above the last edge
// falls in an open bucket. A P90 is read to its bucket: it says the 90th
// percentile case took at most the bucket's upper edge and more than the
// edge below.
var DurationEdges = []float64{1, 2, 4, 8, 16, 24, 40, 80, 120, 240, 480}

// Calendars returns the working-day calendar of a pack, named as in
// Case.Pack, or nil when it does not know the pack.
type Calendars func(pack string) *calendar.Calendar

var (
	defaultCalOnce sync.Once
	defaultCal     *calendar.Calendar
)

// DefaultCalendar is the official calendar with calendar.DefaultConfig,
// which working-hour figures use for a case whose pack's calendar is not
// known. It is nil if that calendar cannot be built.
func DefaultCalendar() *calendar.Calendar {
	defaultCalOnce.Do(func() {
		defaultCal, _ = calendar.New(calendar.DefaultConfig())
	})
	return defaultCal
}

// CalendarFor returns the calendar of c's pack from cals, or
// DefaultCalendar when cals is nil or does not know the pack.
func CalendarFor(cals Calendars, c router.Case) *calendar.Calendar {
	if cals != nil {
		if cal := cals(c.Pack); cal != nil {
			return cal
		}
	}
	return DefaultCalendar()
}

// SLAFacts returns the SLA facts of c as indexed at now, with working
// times on cal (nil leaves them out):
//
//   - received; valid or invalid, as the validity filter has it (neither
//     for a case without a verdict);
//   - resolved when the case is resolved or closed, on_time when it is
//     resolved and none of its clocks was missed or is overdue at now;
//   - breached when a clock stopped after its due time or is past due and
//     running at now;
//   - repeat when a repeat complaint (重复投诉) was attached;
//   - follow_up=satisfied or follow_up=unsatisfied: the latest follow-up
//     visit's verdict (see router.FollowUp);
//   - batch=ID for the batch incident (批量投诉) it belongs to, and
//     NAME=VALUE for its values of the filters SLAGroups (category=…),
//     which name a report's groups;
//   - the working minutes from receipt to the first reply (the reply
//     action, or the stop of the clock waiting for it) and to the first
//     resolution (resolve, or close without one): "reply" or "resolve",
//     then one "…_bit=K" per bit K set in the minutes, so that the sum of
//     many is exact from counts, and "…_le=EDGE" for its bucket
//     (DurationEdges, "inf" above the last).
func SLAFacts(c router.Case, cal *calendar.Calendar, now time.Time) []string {
	facts := []string{FactReceived}
	for _, v := range validity(c) { // the validity filter's: none without a verdict
		facts = append(facts, v)
	}
	breached := false
	for _, d := range c.Deadlines {
		missed := !d.StoppedAt.IsZero() && !d.Met
		overdue := d.StoppedAt.IsZero() && !d.Due.IsZero() && !now.Before(d.Due)
		breached = breached || missed || overdue
	}
	resolved := c.Status == router.StatusResolved || c.Status == router.StatusClosed
	if resolved {
		facts = append(facts, FactResolved)
		if !breached {
			facts = append(facts, FactOnTime)
		}
	}
	if breached {
		facts = append(facts, FactBreached)
	}
	if slices.ContainsFunc(c.Contacts, func(k router.Contact) bool { return k.Kind == router.ContactRepeat }) {
		facts = append(facts, FactRepeat)
	}
	if f := followUp(c.History); f != "" {
		facts = append(facts, f)
	}
	if c.Batch != "" {
		facts = append(facts, factBatch+c.Batch)
	}
	for _, name := range SLAGroups {
		if f, ok := FilterNamed(name); ok {
			for _, v := range f.Value(c) {
				facts = append(facts, name+"="+v)
			}
		}
	}
	if cal == nil {
		return facts
	}
	for prefix, at := range map[string]time.Time{factReplyPrefix: replyAt(c), factResolvePrefix: resolveAt(c)} {
		if at.IsZero() || c.ReceivedAt.IsZero() || at.Before(c.ReceivedAt) {
			continue
		}
		w, err := cal.WorkingBetween(c.ReceivedAt, at)
		if err != nil {
			continue // a day the calendar does not cover: no guess
		}
		facts = append(facts, durationFacts(prefix, int64(w/time.Minute))...)
	}
	return facts
}

// durationFacts are the facts of a working time of minutes.
func durationFacts(prefix string, minutes int64) []string {
	out := []string{prefix}
	for k := 0; k < 64; k++ {
		if minutes&(1<<k) != 0 {
			out = append(out, prefix+factBitSuffix+strconv.Itoa(k))
		}
	}
	edge := factBucketOverflow
	for _, e := range DurationEdges {
		if float64(minutes) <= e*60 {
			edge = formatEdge(e)
			break
		}
	}
	return append(out, prefix+factBucketSuffix+edge)
}

func formatEdge(e float64) string { return strconv.FormatFloat(e, 'f', -1, 64) }

// followUp is the fact of the latest follow-up verdict in history, or "".
func followUp(history []router.Event) string {
	for i := len(history) - 1; i >= 0; i-- {
		switch note := history[i].Note; {
		case strings.HasPrefix(note, "回访：客户满意"):
			return FactSatisfied
		case strings.HasPrefix(note, "回访：客户不满意"):
			return FactUnsatisfied
		}
	}
	return ""
}

// replyAt is when the customer was first answered: the first reply action,
// else the earliest stop of a clock waiting for the reply.
func replyAt(c router.Case) time.Time {
	for _, e := range c.History {
		if e.Kind == router.ActionReply {
			return e.At
		}
	}
	var at time.Time
	for _, d := range c.Deadlines {
		if d.Stop == router.EventReplied && !d.StoppedAt.IsZero() && (at.IsZero() || d.StoppedAt.Before(at)) {
			at = d.StoppedAt
		}
	}
	return at
}

// resolveAt is when the case was first resolved, or closed when it was
// closed without being resolved; zero while it is neither.
func resolveAt(c router.Case) time.Time {
	if c.Status != router.StatusResolved && c.Status != router.StatusClosed {
		return time.Time{}
	}
	var closed time.Time
	for _, e := range c.History {
		switch {
		case e.Kind == router.ActionResolve:
			return e.At
		case e.Kind == router.ActionClose && closed.IsZero():
			closed = e.At
		}
	}
	return closed
}

package console

// The supervisor board (GET /console/board, supervisors and admins): the
// cases whose next escalation warning (预警) comes within a chosen number
// of working hours, the breached cases (超时: a running clock past its due
// time), the escalations raised today, the batch incidents (批量投诉) and
// the open, in-progress and breached counts of each department, with a
// form on each case at risk or breached that transfers it through the case
// page's action route (httpapi.CaseActions.Submit, where a supervisor's
// transfer overrides whoever holds the case).

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/caseindex"
)

// DefaultWithin is how far ahead, in working hours, the board looks for
// warnings unless the supervisor chooses otherwise.
const DefaultWithin = 4

// withinChoices are the look-ahead windows (working hours) the board
// offers.
var withinChoices = []int{1, 2, 4, 8, 16, 40}

// boardStatuses are the statuses of the cases whose clocks still run.
var boardStatuses = []router.Status{router.StatusOpen, router.StatusInProgress, router.StatusResolved}

// supervises reports whether p sees the board: supervisors and admins.
func supervises(p httpapi.Principal) bool {
	return p.Role == httpapi.RoleSupervisor || p.Role == httpapi.RoleAdmin
}

// Supervises reports whether the signed-in person sees the supervisor
// board, for the navigation.
func (p Page) Supervises() bool { return supervises(p.User) }

// boardData is the board page's data.
type boardData struct {
	// Within is the look-ahead in working hours, Choices those offered.
	Within  int
	Choices []int
	// AtRisk are the cases not breached whose next warning comes within
	// the window, soonest first; Breached those past a due time.
	AtRisk, Breached boardList
	// Raised are the escalations raised today (China time), newest first.
	Raised []raisedView
	// Batches are the batch incidents of the cases still running.
	Batches []batchView
	// Departments count each department's cases.
	Departments []departmentCount
	// Capped says a list reached caseindex.MaxLimit cases of one status:
	// the board shows the most urgent ones only.
	Capped bool
}

// boardList is a list of cases on the board with the CSRF token their
// forms post.
type boardList struct {
	Rows []boardRow
	CSRF string
}

// boardRow is a case on the board: its row, the warning it waits for
// and the choices of its transfer form.
type boardRow struct {
	caseRow
	// Warning says the next warning (at risk) or the alert last raised.
	Warning string
	// Departments are the departments its pack routes to; Key makes the
	// form posted twice one action.
	Departments []string
	Key         string
	warnAt      time.Time
}

// raisedView is an escalation raised today.
type raisedView struct {
	Case, Link, Title, Department string
	Level                         int
	Step, Notify, At              string
	at                            time.Time
}

// batchView is a batch incident and its running cases.
type batchView struct {
	Batch, Category string
	Count, Breached int
	Departments     string
	Cases           []linkView
}

// departmentCount is one department's counts.
type departmentCount struct {
	Department                 string
	Open, InProgress, Breached int
}

// nextWarning is the first alert of c not yet raised whose clock still
// runs (or that belongs to no clock), and false when there is none.
func nextWarning(c router.Case) (router.Alert, bool) {
	running := map[string]bool{}
	for _, d := range c.Deadlines {
		running[d.Name] = d.StoppedAt.IsZero() && !d.Due.IsZero()
	}
	var next router.Alert
	found := false
	for _, a := range c.Escalation.Alerts {
		if !a.RaisedAt.IsZero() || a.Clock != "" && !running[a.Clock] {
			continue
		}
		if !found || a.At.Before(next.At) {
			next, found = a, true
		}
	}
	return next, found
}

// horizon is the instant within working hours of now on e's calendar;
// on elapsed time without a calendar or outside the calendar's years.
func horizon(e *router.Engine, now time.Time, within int) time.Time {
	d := time.Duration(within) * time.Hour
	if e != nil && e.Calendar() != nil {
		if t, err := e.Calendar().AddWorking(now, d); err == nil {
			return t
		}
	}
	return now.Add(d)
}

// sameDay reports whether a and b are the same day in China.
func sameDay(a, b time.Time) bool {
	ay, am, ad := a.In(chinaTime).Date()
	by, bm, bd := b.In(chinaTime).Date()
	return ay == by && am == bm && ad == bd
}

// boardOf is the board over the running cases (as the supervisor may see
// them) at now, looking within working hours ahead, without the
// departments' counts. engine gives each pack's engine (nil when not
// loaded).
func boardOf(cases []router.Case, engine func(pack string) *router.Engine, now time.Time, within int) boardData {
	b := boardData{Within: within, Choices: withinChoices}
	batches := map[string]*batchView{}
	batchDeps := map[string][]string{}
	for _, c := range cases {
		e := engine(c.Pack)
		r := boardRow{caseRow: row(c, e, now), Key: "board-" + c.ID + "-" + strconv.FormatInt(c.Revision, 10)}
		if e != nil {
			r.Departments = e.Departments()
		}
		next, warns := nextWarning(c)
		switch {
		case r.Overdue:
			r.Warning = "尚未升级"
			if c.Escalation.Level > 0 {
				r.Warning = "已升级至第 " + strconv.Itoa(c.Escalation.Level) + " 级"
			}
			b.Breached.Rows = append(b.Breached.Rows, r)
		case warns && !next.At.After(horizon(e, now, within)):
			r.Warning = "第 " + strconv.Itoa(next.Level) + " 级 · " + router.StepLabel(next.Step) + " · " + when(next.At) + " 通知" + strings.Join(next.Notify, "、")
			r.warnAt = next.At
			b.AtRisk.Rows = append(b.AtRisk.Rows, r)
		}
		for _, a := range c.Escalation.Alerts {
			if !a.RaisedAt.IsZero() && sameDay(a.RaisedAt, now) {
				b.Raised = append(b.Raised, raisedView{Case: c.ID, Link: caseLink(c.ID), Title: r.Title, Department: c.Route.Department,
					Level: a.Level, Step: router.StepLabel(a.Step), Notify: strings.Join(a.Notify, "、"), At: when(a.RaisedAt), at: a.RaisedAt})
			}
		}
		if c.Batch != "" {
			bv := batches[c.Batch]
			if bv == nil {
				bv = &batchView{Batch: c.Batch, Category: c.Category}
				batches[c.Batch] = bv
			}
			bv.Count++
			if r.Overdue {
				bv.Breached++
			}
			bv.Cases = append(bv.Cases, linkView{ID: c.ID, Link: caseLink(c.ID), Why: c.Route.Department})
			if d := c.Route.Department; d != "" && !slices.Contains(batchDeps[c.Batch], d) {
				batchDeps[c.Batch] = append(batchDeps[c.Batch], d)
			}
		}
	}
	slices.SortFunc(b.Breached.Rows, func(x, y boardRow) int { return byUrgency(x.caseRow, y.caseRow) })
	slices.SortFunc(b.AtRisk.Rows, func(x, y boardRow) int {
		return cmp.Or(x.warnAt.Compare(y.warnAt), strings.Compare(x.ID, y.ID))
	})
	slices.SortFunc(b.Raised, func(x, y raisedView) int { return cmp.Or(y.at.Compare(x.at), strings.Compare(x.Case, y.Case)) })
	for id, bv := range batches {
		slices.Sort(batchDeps[id])
		bv.Departments = strings.Join(batchDeps[id], "、")
		slices.SortFunc(bv.Cases, func(x, y linkView) int { return strings.Compare(x.ID, y.ID) })
		b.Batches = append(b.Batches, *bv)
	}
	slices.SortFunc(b.Batches, func(x, y batchView) int { return cmp.Or(y.Count-x.Count, strings.Compare(x.Batch, y.Batch)) })
	return b
}

// departmentCounts are the counts of every department from the facets of
// the open and in-progress cases and of the breached ones, by name.
func departmentCounts(open, inProgress, breached map[string]int) []departmentCount {
	names := map[string]bool{}
	for _, m := range []map[string]int{open, inProgress, breached} {
		for d := range m {
			names[d] = true
		}
	}
	out := make([]departmentCount, 0, len(names))
	for d := range names {
		out = append(out, departmentCount{Department: d, Open: open[d], InProgress: inProgress[d], Breached: breached[d]})
	}
	slices.SortFunc(out, func(x, y departmentCount) int { return strings.Compare(x.Department, y.Department) })
	return out
}

// board serves the board to a supervisor or an admin; anyone else gets
// the page that says there is no such page.
func (p *Pages) board(c *fiber.Ctx) error {
	me := httpapi.PrincipalOf(c)
	if !supervises(me) {
		return p.render(c, fiber.StatusNotFound, "notfound", "页面不存在", "", "", nil)
	}
	within := c.QueryInt("within", DefaultWithin)
	if !slices.Contains(withinChoices, within) {
		within = DefaultWithin
	}
	ctx, now := c.UserContext(), p.now()
	var running []router.Case
	capped := false
	breached := map[string]int{}
	facets := map[router.Status]map[string]int{}
	for _, s := range boardStatuses {
		all, err := p.d.Index.Search(ctx, caseindex.Query{Scope: me.Scope(), Filters: map[string]string{"status": string(s)}, Sort: caseindex.SortDeadline, Limit: caseindex.MaxLimit})
		if err != nil {
			return p.unavailable(c, "board: search running cases", err)
		}
		late, err := p.d.Index.Search(ctx, caseindex.Query{Scope: me.Scope(), Filters: map[string]string{"status": string(s)}, DueBefore: now, Limit: 1})
		if err != nil {
			return p.unavailable(c, "board: count breached cases", err)
		}
		for _, cs := range all.Hits {
			running = append(running, httpapi.Redact(cs, me, p.d.CustomerKey))
		}
		capped = capped || all.Total > len(all.Hits)
		facets[s] = all.Facets["department"]
		for d, n := range late.Facets["department"] {
			breached[d] += n
		}
	}
	data := boardOf(running, p.engine, now, within)
	data.Capped = capped
	data.AtRisk.CSRF, data.Breached.CSRF = p.d.CSRFToken(c), p.d.CSRFToken(c)
	data.Departments = departmentCounts(facets[router.StatusOpen], facets[router.StatusInProgress], breached)
	return p.render(c, fiber.StatusOK, "board", "主管看板", "board", "", data)
}

package console

// My queue (GET /console/): the cases the signed-in person owns or holds,
// most urgent first, beside the open cases of their departments that
// nobody holds.

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/caseindex"
)

// queueData is the queue page's data.
type queueData struct {
	// Mine are the cases I own or hold that are not closed, most urgent
	// first.
	Mine []caseRow
	// Waiting are the open cases of my departments nobody holds, most
	// urgent first; Departments names those departments.
	Waiting     []caseRow
	Departments string
	// Uncertain are the cases not closed whose category waits for a
	// person to choose (待确认分类), most urgent first.
	Uncertain []caseRow
}

func (p *Pages) queue(c *fiber.Ctx) error {
	me := httpapi.PrincipalOf(c)
	now := p.now()
	mine, err := p.cases(c.UserContext(), me, now,
		func(cs router.Case) bool { return cs.Status != router.StatusClosed },
		byFilter("owner", me.Name), byFilter("assignee", me.Name))
	if err != nil {
		return p.unavailable(c, "queue: search my cases", err)
	}
	deps := me.Departments // nil: every department
	queries := []map[string]string{{"status": string(router.StatusOpen)}}
	if deps != nil {
		queries = queries[:0]
		for _, d := range deps {
			queries = append(queries, map[string]string{"status": string(router.StatusOpen), "department": d})
		}
	}
	waiting, err := p.cases(c.UserContext(), me, now, func(cs router.Case) bool { return cs.Assignee == "" }, queries...)
	if err != nil {
		return p.unavailable(c, "queue: search the department queue", err)
	}
	uncertain, err := p.cases(c.UserContext(), me, now, func(cs router.Case) bool { return cs.Status != router.StatusClosed },
		byFilter("category_uncertain", caseindex.CategoryUncertain))
	if err != nil {
		return p.unavailable(c, "queue: search the cases awaiting a category", err)
	}
	data := queueData{Mine: mine, Waiting: waiting, Uncertain: uncertain, Departments: "全部部门"}
	if deps != nil {
		data.Departments = strings.Join(deps, "、")
	}
	return p.render(c, fiber.StatusOK, "queue", "我的工单", "queue", "", data)
}

// byFilter is the filters of one keyword filter.
func byFilter(name, value string) map[string]string { return map[string]string{name: value} }

// cases are the rows of the cases each of the filters finds (sorted by
// deadline, at most caseindex.MaxLimit each) that me may see and keep
// holds for, each once, most urgent first, as me may see them.
func (p *Pages) cases(ctx context.Context, me httpapi.Principal, now time.Time, keep func(router.Case) bool, filters ...map[string]string) ([]caseRow, error) {
	var rows []caseRow
	seen := map[string]bool{}
	for _, f := range filters {
		res, err := p.d.Index.Search(ctx, caseindex.Query{Filters: f, Sort: caseindex.SortDeadline, Limit: caseindex.MaxLimit, Scope: me.Scope()})
		if err != nil {
			return nil, err
		}
		for _, cs := range res.Hits {
			if seen[cs.ID] || !me.MaySee(cs) || !keep(cs) {
				continue
			}
			seen[cs.ID] = true
			rows = append(rows, row(httpapi.Redact(cs, me, p.d.CustomerKey), p.engine(cs.Pack), now))
		}
	}
	slices.SortFunc(rows, byUrgency)
	return rows, nil
}

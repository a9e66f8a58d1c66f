package console

// Search (GET /console/search): one box with the search API's semantics
// (caseindex.ParseQuery, through httpapi.ParseSearch), filters with their
// facet counts, sort and paging, the whole search in the URL.

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/sinks/caseindex"
)

// searchData is the search page's data.
type searchData struct {
	// Q is the search box's text.
	Q string
	// Selects are the filters chosen from their facet values, Inputs the
	// filters typed in; From and To bound the received time, DueBefore
	// the next deadline (dates).
	Selects             []filterView
	Inputs              []filterView
	From, To, DueBefore string
	Sorts               []option
	// Error says which parameter is wrong and why; the search did not run.
	Error string
	// Searched says a search ran; Rows are its page of cases, Total all
	// it found, Range the page's place ("第 1–20 条，共 35 条").
	Searched    bool
	Rows        []caseRow
	Total       int
	Range       string
	Prev, Next  string
	Unavailable bool
	// Export is the address of the search as CSV, when it found cases.
	Export string
}

// filterView is one filter of the search form.
type filterView struct {
	Name, Label, Value string
	Options            []option
}

// option is one choice of a select, with its facet count.
type option struct {
	Value, Label string
	Count        int
	Selected     bool
}

// The filters of the search form: chosen from facet values, or typed.
var (
	selectFilters = []string{"status", "channel", "category", "category_uncertain", "contact_type", "grade", "validity", "department", "queue", "business_type"}
	inputFilters  = []string{"owner", "assignee", "phone", "customer", "work_order"}
)

// sorts are the orders a search offers.
var sorts = []option{
	{Value: caseindex.SortRelevance, Label: "相关度"}, {Value: caseindex.SortDeadline, Label: "时限最近"},
	{Value: caseindex.SortNewest, Label: "最新受理"}, {Value: caseindex.SortOldest, Label: "最早受理"},
}

func (p *Pages) search(c *fiber.Ctx) error {
	me := httpapi.PrincipalOf(c)
	values := searchValues(c)
	data := searchData{Q: values.Get("q"), From: values.Get("from"), To: values.Get("to"), DueBefore: values.Get("due_before")}
	q, err := httpapi.ParseSearch(values, me)
	var facets map[string]map[string]int
	status := fiber.StatusOK
	switch {
	case err != nil:
		var pe *caseindex.ParamError
		data.Error = "查询条件无效"
		if errors.As(err, &pe) {
			data.Error = fmt.Sprintf("查询条件“%s”无效：%s", pe.Param, pe.Message)
		}
		status = fiber.StatusBadRequest
	case len(values) > 0:
		res, err := p.d.Index.Search(c.UserContext(), q)
		if err != nil {
			p.d.Logger.Error("search failed", zap.Error(err))
			data.Unavailable, status = true, fiber.StatusServiceUnavailable
			break
		}
		data.Searched, data.Total, facets = true, res.Total, res.Facets
		now := p.now()
		for _, cs := range res.Hits { // the search is in me's scope (httpapi.ParseSearch)
			data.Rows = append(data.Rows, row(httpapi.Redact(cs, me, p.d.CustomerKey), p.engine(cs.Pack), now))
		}
		data.Range, data.Prev, data.Next = paging(values, q, res.Total)
		if res.Total > 0 {
			data.Export = exportLink(values)
		}
	}
	for _, name := range selectFilters {
		data.Selects = append(data.Selects, selectOf(name, values.Get(name), facets[name]))
	}
	for _, name := range inputFilters {
		f, _ := caseindex.FilterNamed(name)
		data.Inputs = append(data.Inputs, filterView{Name: name, Label: f.Label, Value: values.Get(name)})
	}
	sort := values.Get("sort")
	for _, s := range sorts {
		s.Selected = s.Value == sort
		data.Sorts = append(data.Sorts, s)
	}
	return p.render(c, status, "search", "搜索工单", "search", "", data)
}

// selectOf is the select of a filter: its facet values, most frequent
// first, and the chosen value even when the facet does not list it.
func selectOf(name, chosen string, counts map[string]int) filterView {
	f, _ := caseindex.FilterNamed(name)
	v := filterView{Name: name, Label: f.Label, Value: chosen}
	for value, n := range counts {
		v.Options = append(v.Options, option{Value: value, Label: valueLabel(name, value), Count: n, Selected: value == chosen})
	}
	if chosen != "" && counts[chosen] == 0 {
		v.Options = append(v.Options, option{Value: chosen, Label: valueLabel(name, chosen), Selected: true})
	}
	for _, allowed := range f.Allowed { // every status and validity is a choice
		if !slices.ContainsFunc(v.Options, func(o option) bool { return o.Value == allowed }) {
			v.Options = append(v.Options, option{Value: allowed, Label: valueLabel(name, allowed)})
		}
	}
	slices.SortFunc(v.Options, func(a, b option) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
	})
	return v
}

// valueLabel is how a filter's value reads in Chinese.
func valueLabel(name, value string) string {
	switch name {
	case "status":
		return router.Status(value).Label()
	case "channel":
		return channelLabel(ingest.Channel(value))
	case "validity":
		return map[string]string{caseindex.ValidityValid: "有效", caseindex.ValidityInvalid: "无效"}[value]
	case "category_uncertain":
		return map[string]string{caseindex.CategoryUncertain: "待确认"}[value]
	}
	return value
}

// paging says which cases the page shows and links the pages before and
// after it, keeping the rest of the search.
func paging(values url.Values, q caseindex.Query, total int) (place, prev, next string) {
	if total == 0 {
		return "没有找到符合条件的工单", "", ""
	}
	last := min(q.Offset+q.Limit, total)
	place = fmt.Sprintf("第 %d–%d 条，共 %d 条", min(q.Offset+1, last), last, total)
	at := func(offset int) string {
		v := maps.Clone(values)
		v.Set("offset", strconv.Itoa(offset))
		return Path + "/search?" + v.Encode()
	}
	if q.Offset > 0 {
		prev = at(max(q.Offset-q.Limit, 0))
	}
	if last < total && last+q.Limit <= caseindex.MaxWindow {
		next = at(last)
	}
	return place, prev, next
}

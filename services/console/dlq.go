package console

// Dead letters in the console (GET /console/ops/dlq), for the roles
// httpapi.Role.TendsDeadLetters admits (ops, admin): the counts of
// complaints.dlq by source and reason, the newest entries with their
// payload masked, one entry (GET /console/ops/dlq/:id), its payload in
// full for ops, each time audited (POST /console/ops/dlq/:id/reveal),
// and the replay of one entry or of every entry a filter selects, after
// a confirmation (POST /console/ops/dlq/replay). The page reads and
// replays through httpapi.DeadLetters, as the API does.

import (
	"cmp"
	"maps"
	"net/url"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/httpapi"
)

// pathDeadLetters is the dead-letter page.
const pathDeadLetters = Path + "/ops/dlq"

// dlqPageLimit is how many entries the page lists.
const dlqPageLimit = 50

// mountDeadLetters registers the dead-letter pages behind RequirePage
// and tendsDeadLetters, the posts also behind CheckCSRF.
func (p *Pages) mountDeadLetters(app fiber.Router) {
	app.Get(pathDeadLetters, p.d.RequirePage, p.tendsDeadLetters, p.deadLetters)
	app.Post(pathDeadLetters+"/replay", p.d.RequirePage, p.tendsDeadLetters, p.d.CheckCSRF, p.replayDeadLetters)
	app.Get(pathDeadLetters+"/:id", p.d.RequirePage, p.tendsDeadLetters, p.deadLetter)
	app.Post(pathDeadLetters+"/:id/reveal", p.d.RequirePage, p.tendsDeadLetters, p.d.CheckCSRF, p.revealDeadLetter)
}

// tendsDeadLetters answers 403 to a person whose role may not see the
// dead letters.
func (p *Pages) tendsDeadLetters(c *fiber.Ctx) error {
	if !httpapi.PrincipalOf(c).Role.TendsDeadLetters() {
		return p.render(c, fiber.StatusForbidden, "notice", "无权访问", "", "",
			message{Text: "死信队列仅限运维人员和管理员查看。", Code: "forbidden"})
	}
	return c.Next()
}

// countView is one row of a count table: a value, how many, and the link
// that filters the page by it.
type countView struct {
	Value, Link string
	// Label says Value in words, when it is a code.
	Label string
	Count int
}

// dlqItem is an entry as the list shows it.
type dlqItem struct {
	httpapi.DeadLetterItem
	Link, At, Size string
}

// dlqData is the list page's data.
type dlqData struct {
	Filter             deadletters.Filter
	Filtered           bool
	BySource, ByReason []countView
	Items              []dlqItem
	Total, Kept        int
	Matching           int
	// Replayable counts the entries a replay of the filter would send.
	Replayable int
}

// dlqLink is the page filtered by f.
func dlqLink(f deadletters.Filter) string {
	q := url.Values{}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	if f.Reason != "" {
		q.Set("reason", f.Reason)
	}
	if len(q) == 0 {
		return pathDeadLetters
	}
	return pathDeadLetters + "?" + q.Encode()
}

// entryLink is the page of entry id.
func entryLink(id string) string { return pathDeadLetters + "/" + url.PathEscape(id) }

// counts are the rows of a count table, most first, each linked to what
// link makes of its value (the page filtered by it, or noLink).
func counts(m map[string]int, link func(string) string) []countView {
	out := make([]countView, 0, len(m))
	for _, v := range slices.Sorted(maps.Keys(m)) {
		out = append(out, countView{Value: v, Count: m[v], Link: link(v)})
	}
	slices.SortStableFunc(out, func(a, b countView) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

// noLink links a count to nothing.
func noLink(string) string { return "" }

// size says a size in bytes for people.
func size(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KB"
	}
	return strconv.Itoa(n) + " 字节"
}

func (p *Pages) deadLetters(c *fiber.Ctx) error {
	f := deadletters.Filter{Source: c.Query("source"), Reason: c.Query("reason")}
	list := p.d.DeadLetters.List(f, dlqPageLimit)
	d := dlqData{Filter: f, Filtered: f != deadletters.Filter{}, Total: list.Total, Kept: list.Kept, Matching: list.Matching,
		Replayable: len(p.d.DeadLetters.Select(f))}
	d.BySource = counts(list.BySource, func(v string) string { return dlqLink(deadletters.Filter{Source: v, Reason: f.Reason}) })
	d.ByReason = counts(list.ByReason, func(v string) string { return dlqLink(deadletters.Filter{Source: f.Source, Reason: v}) })
	for i := range d.ByReason {
		d.ByReason[i].Label = deadletters.ReasonLabel(d.ByReason[i].Value)
	}
	for _, e := range list.Entries {
		d.Items = append(d.Items, dlqItem{DeadLetterItem: e, Link: entryLink(e.ID), At: when(e.At), Size: size(e.Size)})
	}
	return p.render(c, fiber.StatusOK, "dlq", "死信队列", "dlq", "", d)
}

// dlqEntryData is the entry page's data.
type dlqEntryData struct {
	httpapi.DeadLetterView
	At, Size, ReplayedAt string
	// MayReveal says the person may see the payload in full.
	MayReveal bool
	// Headers are the entry's headers, by name.
	Headers []countView
}

func (p *Pages) deadLetter(c *fiber.Ctx) error { return p.showDeadLetter(c, false) }

func (p *Pages) revealDeadLetter(c *fiber.Ctx) error { return p.showDeadLetter(c, true) }

// showDeadLetter renders an entry, in full when full (and the person's
// role sees payloads: Show audits it).
func (p *Pages) showDeadLetter(c *fiber.Ctx, full bool) error {
	pr := httpapi.PrincipalOf(c)
	v, ok := p.d.DeadLetters.Show(pr, c.Params("id"), full)
	if !ok {
		return p.render(c, fiber.StatusNotFound, "notice", "没有这条死信", "dlq", "",
			message{Text: "没有这条死信：编号有误，或已超出本副本保留的条数。", Code: "dead_letter_not_found"})
	}
	d := dlqEntryData{DeadLetterView: v, At: when(v.At), Size: size(v.Size), MayReveal: pr.Role.SeesDeadLetterPayloads() && !v.Full}
	if v.Replay != nil {
		d.ReplayedAt = when(v.Replay.At)
	}
	for _, k := range slices.Sorted(maps.Keys(v.Headers)) {
		d.Headers = append(d.Headers, countView{Value: k, Link: v.Headers[k]})
	}
	flash := ""
	if v.Full {
		flash = "已显示完整内容，本次查看已记录"
	}
	return p.render(c, fiber.StatusOK, "dlqentry", "死信 "+v.ID, "dlq", flash, d)
}

// dlqReplayData is the replay page's data: what a confirmation would
// send, or what was sent.
type dlqReplayData struct {
	Filter deadletters.Filter
	IDs    []string
	// Confirm asks to confirm; otherwise Results are shown.
	Confirm bool
	// Capped says only the oldest deadletters.MaxReplay are offered.
	Capped   bool
	Results  []dlqOutcome
	Replayed int
	Back     string
}

// dlqOutcome is a replayed entry as the page shows it.
type dlqOutcome struct {
	deadletters.Outcome
	Link, Label string
}

// replayDeadLetters asks to confirm the replay of the posted ids (id,
// repeatable) or filter (source, reason, all=1), and with confirm=1
// replays them.
func (p *Pages) replayDeadLetters(c *fiber.Ctx) error {
	var req httpapi.ReplayRequest
	args := c.Request().PostArgs()
	for _, id := range args.PeekMulti("id") {
		req.IDs = append(req.IDs, string(id))
	}
	if len(req.IDs) == 0 && c.FormValue("all") != "" {
		req.Filter = deadletters.Filter{Source: c.FormValue("source"), Reason: c.FormValue("reason")}
	}
	d := dlqReplayData{Filter: req.Filter, Back: dlqLink(req.Filter)}
	if len(req.IDs) == 1 {
		d.Back = entryLink(req.IDs[0])
	}
	if c.FormValue("confirm") == "" {
		d.Confirm, d.IDs = true, req.IDs
		if len(d.IDs) == 0 && req.Filter != (deadletters.Filter{}) {
			d.IDs = p.d.DeadLetters.Select(req.Filter)
		}
		if len(d.IDs) > deadletters.MaxReplay {
			d.IDs, d.Capped = d.IDs[:deadletters.MaxReplay], true
		}
		if len(d.IDs) == 0 {
			return p.render(c, fiber.StatusUnprocessableEntity, "dlqreplay", "重放死信", "dlq", "没有可重放的死信", d)
		}
		return p.render(c, fiber.StatusOK, "dlqreplay", "确认重放", "dlq", "", d)
	}
	out, err := p.d.DeadLetters.Replay(c.UserContext(), httpapi.PrincipalOf(c), req)
	if err != nil {
		return p.render(c, fiber.StatusUnprocessableEntity, "dlqreplay", "重放死信", "dlq", err.Error(), d)
	}
	for _, o := range out {
		d.Results = append(d.Results, dlqOutcome{Outcome: o, Link: entryLink(o.ID), Label: deadletters.StatusLabels[o.Status]})
		if o.Status == deadletters.StatusReplayed {
			d.Replayed++
		}
	}
	flash := "已重放 " + strconv.Itoa(d.Replayed) + " 条"
	if n := len(out) - d.Replayed; n > 0 {
		flash += "，" + strconv.Itoa(n) + " 条未发送"
	}
	return p.render(c, fiber.StatusOK, "dlqreplay", "重放结果", "dlq", flash, d)
}
